import SystemPackage

/// The one error type of the host-access layer: a closed code, a message that names the
/// path or device, and, where a system call failed, the call and its `Errno`.
public struct HostAccessError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A path or device that should exist does not.
        case notFound
        case permissionDenied
        /// The input is malformed: a garbage dump, a truncated snapshot, an unparsable file.
        case invalidInput
        /// A path would leave the configured root (`..` or an absolute symlink).
        case escapesRoot
        /// A FIFO, device, socket, directory or symbolic link where a regular file must be.
        case notRegularFile
        /// A file or archive over its documented size limit (Docs/security.md).
        case tooLarge
        /// No space left, or over the process's file size limit, while writing.
        case noSpace
        /// libpci reported an error.
        case libpci
        case ioError
    }

    public var code: Code
    public var message: String
    public var path: String?
    /// The failing system call (`open`, `write`, `readlink`, …), where there was one.
    public var syscall: String?
    public var errno: Errno?

    public init(_ code: Code, _ message: String, path: String? = nil, syscall: String? = nil, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.syscall = syscall
        self.errno = errno
    }

    /// Maps an errno from `syscall` on `path` to a code, in one place. The message reads
    /// `open /sys/…/driver_override: Permission denied`: the call, the path, strerror's text.
    public static func system(_ errno: Errno, _ syscall: String, path: String) -> HostAccessError {
        let code: Code =
            switch errno {
            case .noSuchFileOrDirectory, .notDirectory: .notFound
            case .permissionDenied, .notPermitted, .readOnlyFileSystem: .permissionDenied
            case .noSpace, .fileTooLarge: .noSpace
            default: .ioError
            }
        return HostAccessError(code, "\(syscall) \(path): \(errno)", path: path, syscall: syscall, errno: errno)
    }

    public var description: String { message }
}
