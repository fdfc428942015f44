import SystemPackage

/// The one error type of the host-access layer: a closed code, a message that names the
/// path or device, and the errno of the failing system call where there was one.
public struct HostAccessError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A path or device that should exist does not.
        case notFound
        case permissionDenied
        /// The input is malformed: a garbage dump, a truncated snapshot, an unparsable file.
        case invalidInput
        /// A path would leave the configured root (`..` or an absolute symlink).
        case escapesRoot
        /// libpci reported an error.
        case libpci
        case ioError
    }

    public var code: Code
    public var message: String
    public var path: String?
    public var errno: Errno?

    public init(_ code: Code, _ message: String, path: String? = nil, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
    }

    /// Maps an errno from `syscall` on `path` to a code, in one place.
    static func system(_ errno: Errno, _ syscall: String, path: String) -> HostAccessError {
        let code: Code =
            switch errno {
            case .noSuchFileOrDirectory, .notDirectory: .notFound
            case .permissionDenied, .notPermitted: .permissionDenied
            default: .ioError
            }
        return HostAccessError(code, "\(syscall) \(path): \(errno)", path: path, errno: errno)
    }

    public var description: String { message }
}
