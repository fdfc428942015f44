/// What the watchdog decided for one guest (or `-`, no guest) about one event: the `action`
/// column of the journal's `decisions` table, `action` in `vfioctl aer log --json`, the
/// `action` label of `vfioctl_aerd_decisions_total`. Raw values are the text the journal has
/// always stored.
public enum DecisionAction: Sendable, Hashable, CustomStringConvertible {
    /// The guest was destroyed (`virDomainDestroy`), policy `action = "destroy"`.
    case destroy
    /// The guest was asked to shut down (`virDomainShutdown`, ACPI), policy `action = "shutdown"`.
    case shutdown
    /// The device recovered: the guest starts after the back-off.
    case restartScheduled
    /// The back-off passed and the guest was started (`virDomainCreate`).
    case start
    /// The guest stays down: restart is off, the hourly limit is reached, or the kernel could
    /// not recover the device (FAILED_RECOVERY).
    case stayDown
    /// Too many correctable errors, or a non-fatal counter moved without a recovery event.
    case warn
    /// A libvirt call to take a guest down or start it failed.
    case failed
    /// A journaled take-down whose device recovered before it was handled.
    case superseded
    /// A counter moved, but recovery uevents for the device explain it.
    case explained
    /// The event's handling failed or was cut short; it is never tried again.
    case poisoned
    /// Text in a journal row this version does not know (written by another version or by
    /// hand): shown as it is, never acted on.
    case unrecognized(String)

    /// Every action this version writes, in declaration order.
    public static let known: [DecisionAction] = [
        .destroy, .shutdown, .restartScheduled, .start, .stayDown, .warn, .failed, .superseded, .explained, .poisoned,
    ]

    /// The action a journal row's text names; text no known action has is `.unrecognized`.
    public init(rawValue: String) {
        self = Self.known.first { $0.rawValue == rawValue } ?? .unrecognized(rawValue)
    }

    /// The journal's text.
    public var rawValue: String {
        switch self {
        case .destroy: "destroy"
        case .shutdown: "shutdown"
        case .restartScheduled: "restart-scheduled"
        case .start: "start"
        case .stayDown: "stay-down"
        case .warn: "warn"
        case .failed: "failed"
        case .superseded: "superseded"
        case .explained: "explained"
        case .poisoned: "poisoned"
        case .unrecognized(let text): text
        }
    }

    public var description: String { rawValue }
}
