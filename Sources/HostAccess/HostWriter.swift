import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The one place vfioctl writes to sysfs/procfs: each write is one `write(2)` on a freshly
/// opened existing file, as `echo VALUE > FILE` does. In dry-run mode it records the writes
/// (in order) instead, for `--dry-run` to print.
public final class HostWriter {
    public struct Write: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var value: String
        public var description: String { "echo \(value) > \(path)" }
    }

    public let dryRun: Bool
    public private(set) var writes: [Write] = []
    /// Called after each real write. Tests on a tree install a model of the kernel's reaction
    /// here (a driver link appearing after `drivers_probe`); a tree has no kernel.
    public var kernelModel: ((Write) throws -> Void)?

    public init(dryRun: Bool) { self.dryRun = dryRun }

    /// Writes `value` (a newline is added, as echo does) to `relative` below `fs`'s root.
    public func write(_ value: String, to relative: String, in fs: RootedFileSystem) throws(HostAccessError) {
        let path = try fs.resolve(relative)
        writes.append(Write(path: path.string, value: value))
        if dryRun { return }
        // As `echo >` opens: O_TRUNC (a tree file must not keep a longer old value), but no
        // O_CREAT: sysfs attributes exist or the write is wrong.
        let fd = path.withPlatformString { open($0, O_WRONLY | O_TRUNC | O_CLOEXEC) }
        guard fd >= 0 else { throw .system(Errno(rawValue: errno), "open", path: path.string) }
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        if n < 0 { throw .system(Errno(rawValue: errno), "write \(value) to", path: path.string) }
        if n != bytes.count {
            throw HostAccessError(
                .ioError, "short write of \(value) to \(path): \(n) of \(bytes.count) bytes", path: path.string)
        }
        do {
            try kernelModel?(Write(path: path.string, value: value))
        } catch let error as HostAccessError {
            throw error
        } catch {
            throw HostAccessError(.ioError, "write \(value) to \(path): \(error)", path: path.string)
        }
    }
}
