import HostAccess
import QuirkDB

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
            case ("restart-backoff-seconds", .integer(let value)) where value >= 0:
                policy.restartBackoffSeconds = Double(value)
            case ("max-restarts-per-hour", .integer(let value)) where value >= 0: policy.maxRestartsPerHour = value
            case ("nonfatal-counter", .string(let value)) where value == "warn" || value == "take-down":
                policy.nonFatalCounter = value
            case ("correctable-warn-per-minute", .integer(let value)) where value > 0:
                policy.correctableWarnPerMinute = value
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

    public static func load(path: String?) throws -> AERPolicy {
        guard let path, let text = try readTextFile(path) else { return AERPolicy() }
        return try parse(text, name: path)
    }
}
