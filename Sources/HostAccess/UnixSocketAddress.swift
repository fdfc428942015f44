#if canImport(Glibc)
    import Glibc
#endif

/// A `sockaddr_un` for a socket path, for bind(2), connect(2) and sendto(2). A leading "@"
/// names an abstract socket (as systemd's `NOTIFY_SOCKET` may). A path longer than
/// `sun_path` holds is no address at all (nil): cut, it would name another file.
public struct UnixSocketAddress {
    private var address = sockaddr_un()
    private let length: socklen_t

    /// The longest path `sun_path` holds with its terminating NUL: 107 bytes on Linux.
    public static let maximumPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// nil when `path` is longer than `maximumPathBytes` (in UTF-8 bytes).
    public init?(path: String) {
        var bytes = Array(path.utf8)
        guard bytes.count <= Self.maximumPathBytes else { return nil }
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        // A path's length counts its terminating NUL; an abstract name's does not.
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    }

    /// Calls `body` with the address as a `sockaddr` and its length.
    public func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        try withUnsafePointer(to: address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
