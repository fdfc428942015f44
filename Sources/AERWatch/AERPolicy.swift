import AEREvents
import ConfigFile

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
    public var action = Action.destroy
    public var restart = true
    public var restartBackoffSeconds: Double = 5
    public var maxRestartsPerHour = 3
    public var nonFatalCounter = NonFatalCounter.warn
    public var correctableWarnPerMinute = 100

    public init() {}

    /// Decodes the policy in `text`, the contents of the file `name`; a key it does not know
    /// or a value out of its range is a `ConfigFileError` at the key's line.
    public static func parse(_ text: String, name: String) throws(ConfigFileError) -> AERPolicy {
        let table = try ConfigTable.parse(text, file: name)
        try table.allowOnly([
            "action", "restart", "restart-backoff-seconds", "max-restarts-per-hour", "nonfatal-counter",
            "correctable-warn-per-minute",
        ])
        var policy = AERPolicy()
        if let action = try table.string("action", oneOf: Action.allCases.map(\.rawValue)) {
            policy.action = Action(rawValue: action) ?? policy.action
        }
        if let restart = try table.bool("restart") { policy.restart = restart }
        if let seconds = try table.integer("restart-backoff-seconds", in: 0...AERLimits.maxRestartBackoffSeconds) {
            policy.restartBackoffSeconds = Double(seconds)
        }
        if let count = try table.integer("max-restarts-per-hour", in: 0...AERLimits.maxRestartsPerHour) {
            policy.maxRestartsPerHour = count
        }
        if let counter = try table.string("nonfatal-counter", oneOf: NonFatalCounter.allCases.map(\.rawValue)) {
            policy.nonFatalCounter = NonFatalCounter(rawValue: counter) ?? policy.nonFatalCounter
        }
        if let rate = try table.integer("correctable-warn-per-minute", in: 1...AERLimits.maxCorrectableWarnPerMinute) {
            policy.correctableWarnPerMinute = rate
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
            throw ConfigFileError(file: path, line: 0, message: "open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw ConfigFileError(file: path, line: 0, message: "fstat: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ConfigFileError(file: path, line: 0, message: "not a regular file")
        }
        let limit = AERLimits.maxPolicyFileBytes
        func tooLarge(_ size: Int) -> ConfigFileError {
            ConfigFileError(
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
                throw ConfigFileError(file: path, line: 0, message: "read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= limit else { throw tooLarge(filled) }
        guard let text = String(validating: bytes[..<filled], as: UTF8.self) else {
            throw ConfigFileError(file: path, line: 0, message: "not valid UTF-8")
        }
        return try parse(text, name: path)
    }
}
