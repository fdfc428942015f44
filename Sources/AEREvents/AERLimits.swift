/// Bounds on every number and string vfio-aerd takes from outside: uevents and udev
/// properties, the injected-event socket, the kernel's AER counter files, the policy file and
/// rows read back from the journal. A value past its bound is rejected or clamped with a log
/// line that names the bound; none of them can make the daemon allocate without limit or trap
/// on an overflow.
public enum AERLimits {
    /// Most errors one event may stand for: `COUNT=` of an injected counter movement (more is
    /// rejected) and a counter's growth between two polls (more is counted as this many, and
    /// said so). A journal row with a count outside 1…this is poisoned, not handled.
    public static let maxEventCount = 1_000_000

    /// Largest value accepted from an AER counter file (`TOTAL_ERR_*` in
    /// `aer_dev_correctable|fatal|nonfatal`, `aer_rootport_total_err_*`): 2^53, the largest
    /// integer a Prometheus sample (a float64) holds exactly. A larger value is a malformed file.
    public static let maxCounterValue = 1 << 53

    /// Longest uevent or udev property value read (the kernel's whole uevent buffer is 2048
    /// bytes). A longer value makes the property unreadable; an event that needs it is rejected.
    public static let maxPropertyValueBytes = 1024

    /// Largest datagram accepted on `--inject-socket`; a longer one is rejected whole rather
    /// than read cut.
    public static let maxInjectedMessageBytes = 4096

    /// Largest policy file (`aerd.toml`) read; a larger one is refused, naming file and limit.
    public static let maxPolicyFileBytes = 64 * 1024

    /// Largest `restart-backoff-seconds` in the policy (one day).
    public static let maxRestartBackoffSeconds = 86_400

    /// Largest `max-restarts-per-hour` in the policy (one a second).
    public static let maxRestartsPerHour = 3_600

    /// Largest `correctable-warn-per-minute` in the policy (the window keeps this many times).
    public static let maxCorrectableWarnPerMinute = 1_000_000
}
