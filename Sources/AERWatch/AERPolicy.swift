import AEREvents
import QuirkDB

#if canImport(Glibc)
    import Glibc
#endif

/// `/etc/vfioctl/aerd.toml`, reloaded on SIGHUP.
///
/// ```toml
/// action = "destroy"              # or "shutdown": what happens to the owning guests
/// restart = true                  # start them again after SUCCESSFUL_RECOVERY, DEVICE_ONLINE=1
/// restart-backoff-seconds = 5
/// max-restarts-per-hour = 3
/// nonfatal-counter = "warn"       # a non-fatal counter moving without an event: warn | take-down
/// correctable-warn-per-minute = 100
/// ```
public struct AERPolicy: Sendable, Equatable {
    public var action = "destroy"
    public var restart = true
    public var restartBackoffSeconds: Double = 5
    public var maxRestartsPerHour = 3
    public var nonFatalCounter = "warn"
    public var correctableWarnPerMinute = 100

    public init() {}

    public static func parse(_ text: String, name: String) throws -> AERPolicy {
        let table: TOMLTable
        do { table = try TOMLParser.parse(text) } catch {
            throw QuirkFileError(file: name, line: error.line, message: error.message)
        }
        var policy = AERPolicy()
        for entry in table.entries {
            func fail(_ message: String) -> QuirkFileError {
                QuirkFileError(file: name, line: entry.line, message: message)
            }
            switch (entry.key, entry.value) {
            case ("action", .string(let value)) where value == "destroy" || value == "shutdown": policy.action = value
            case ("restart", .bool(let value)): policy.restart = value
            case ("restart-backoff-seconds", .integer(let value))
            where (0...AERLimits.maxRestartBackoffSeconds).contains(value):
                policy.restartBackoffSeconds = Double(value)
            case ("max-restarts-per-hour", .integer(let value)) where (0...AERLimits.maxRestartsPerHour).contains(value):
                policy.maxRestartsPerHour = value
            case ("nonfatal-counter", .string(let value)) where value == "warn" || value == "take-down":
                policy.nonFatalCounter = value
            case ("correctable-warn-per-minute", .integer(let value))
            where (1...AERLimits.maxCorrectableWarnPerMinute).contains(value):
                policy.correctableWarnPerMinute = value
            case ("restart-backoff-seconds", .integer):
                throw fail("restart-backoff-seconds must be 0...\(AERLimits.maxRestartBackoffSeconds)")
            case ("max-restarts-per-hour", .integer):
                throw fail("max-restarts-per-hour must be 0...\(AERLimits.maxRestartsPerHour)")
            case ("correctable-warn-per-minute", .integer):
                throw fail("correctable-warn-per-minute must be 1...\(AERLimits.maxCorrectableWarnPerMinute)")
            case ("action", _), ("restart", _), ("restart-backoff-seconds", _), ("max-restarts-per-hour", _),
                ("nonfatal-counter", _),
                ("correctable-warn-per-minute", _):
                throw fail("bad value for \(entry.key)")
            default:
                throw fail(
                    "unknown key \(entry.key); known: action, restart, restart-backoff-seconds, max-restarts-per-hour, nonfatal-counter, correctable-warn-per-minute"
                )
            }
        }
        return policy
    }

    /// The policy at `path`, or the defaults when `path` is nil or names no file (at start-up;
    /// a reload uses `read` and keeps the old policy instead).
    public static func load(path: String?) throws -> AERPolicy {
        guard let path, let policy = try read(path: path) else { return AERPolicy() }
        return policy
    }

    /// The policy at `path`; nil when no file is there. The file must be a regular file of at
    /// most `AERLimits.maxPolicyFileBytes`, in UTF-8: anything else is an error naming the
    /// file (a FIFO would block the daemon, a huge file would be read into memory).
    public static func read(path: String) throws -> AERPolicy? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw QuirkFileError(file: path, line: 0, message: "open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw QuirkFileError(file: path, line: 0, message: "fstat: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw QuirkFileError(file: path, line: 0, message: "not a regular file")
        }
        let limit = AERLimits.maxPolicyFileBytes
        func tooLarge(_ size: Int) -> QuirkFileError {
            QuirkFileError(
                file: path, line: 0,
                message: "\(size) bytes is larger than the limit of \(limit) bytes (AERLimits.maxPolicyFileBytes)")
        }
        guard status.st_size <= limit else { throw tooLarge(Int(status.st_size)) }
        // Read one byte past the limit: the file may have grown since fstat.
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress.map { $0 + filled }, buffer.count - filled)
            }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                throw QuirkFileError(file: path, line: 0, message: "read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= limit else { throw tooLarge(filled) }
        guard let text = String(validating: bytes[..<filled], as: UTF8.self) else {
            throw QuirkFileError(file: path, line: 0, message: "not valid UTF-8")
        }
        return try parse(text, name: path)
    }
}
