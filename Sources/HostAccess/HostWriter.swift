import Logging
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The one place vfioctl writes to sysfs/procfs: each write is one `write(2)` on a freshly
/// opened existing regular file below the root (opened through `RootDirectory`, never through
/// a link as its last component), as `echo VALUE > FILE` does. Every write is logged at debug
/// level with its path and value. In dry-run mode it records the writes (in order) instead,
/// for `--dry-run` to print, and touches nothing.
public final class HostWriter {
    public struct Write: Sendable, Equatable, CustomStringConvertible {
        /// What a write does: one sysfs attribute, or a whole configuration file.
        public enum Kind: Sendable, Equatable {
            /// `echo VALUE > PATH`.
            case attribute
            /// A configuration file written whole and atomically (`value` is its text).
            case file
            /// A configuration file removed.
            case removal
        }

        public var path: String
        public var value: String
        public var kind: Kind = .attribute

        public init(path: String, value: String, kind: Kind = .attribute) {
            self.path = path
            self.value = value
            self.kind = kind
        }

        public var description: String {
            switch kind {
            case .attribute: "echo \(value) > \(path)"
            case .file:
                "write \(path):\n"
                    + value.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map {
                        "  | " + $0
                    }.joined(separator: "\n")
            case .removal: "rm \(path)"
            }
        }
    }

    public let dryRun: Bool
    public internal(set) var writes: [Write] = []
    /// Called after each real write: the host session's seam for a model of the kernel on a
    /// tree (a tree has files but no kernel to react) and for crash tests.
    public var afterWrite: ((Write) throws -> Void)?
    public var logger = Logger(label: "vfioctl.host")

    public init(dryRun: Bool) { self.dryRun = dryRun }

    /// Writes `value` (a newline is added, as echo does) to `relative` below `fs`'s root.
    public func write(_ value: String, to relative: String, in fs: RootedFileSystem) throws(HostAccessError) {
        let path = try fs.resolve(relative)
        let write = Write(path: path.string, value: value)
        writes.append(write)
        if dryRun {
            logger.debug("dry run: would write", metadata: ["path": "\(path)", "value": "\(value)"])
            return
        }
        logger.debug("write", metadata: ["path": "\(path)", "value": "\(value)"])
        let fd = try fs.openForWriting(relative)
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        var n: Int
        repeat {
            n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        } while n < 0 && errno == EINTR
        if n < 0 { throw .system(Errno(rawValue: errno), "write \(value) to", path: path.string) }
        if n != bytes.count {
            throw HostAccessError(
                .ioError, "short write of \(value) to \(path): \(n) of \(bytes.count) bytes", path: path.string,
                syscall: "write")
        }
        try notifyAfterWrite(write, describedAs: "write \(value) to \(path)", path: path)
    }

    /// Runs `afterWrite` for a write that was made; what it throws becomes a HostAccessError
    /// (one it threw as such is passed on) whose message starts with `describedAs`.
    func notifyAfterWrite(_ write: Write, describedAs what: String, path: FilePath) throws(HostAccessError) {
        do {
            try afterWrite?(write)
        } catch let error as HostAccessError {
            throw error
        } catch {
            throw HostAccessError(.ioError, "\(what): \(error)", path: path.string)
        }
    }
}

/// What a host's kernel does after vfioctl writes one of its files: the seam between actions
/// and the kernel. On a live host the kernel itself reacts and nothing is installed; a tree on
/// disk has files but no kernel, so a test installs a model of one (TestSupport's KernelModel).
/// The product never implements it.
public protocol KernelBehindWrites: AnyObject, Sendable {
    func react(to write: HostWriter.Write) throws
}
