import CVirt

#if canImport(Glibc)
    import Glibc
#endif

/// A libvirt failure, read from `virGetLastError()` right after the failing call.
public struct LibvirtError: Error, CustomStringConvertible, Sendable {
    /// `virErrorNumber` (e.g. VIR_ERR_NO_CONNECT = 38).
    public var code: Int32
    public var message: String
    /// The libvirt function that failed.
    public var call: String

    static func last(_ call: String) -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(code: -1, message: "\(call) failed without a libvirt error", call: call)
        }
        let text = error.pointee.message.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self)
        }
        return LibvirtError(code: error.pointee.code, message: text ?? "unknown libvirt error", call: call)
    }

    public var description: String { "\(call): \(message)" }
}
