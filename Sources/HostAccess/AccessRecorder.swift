import Synchronization

/// Collects the absolute paths a reader touched, so a snapshot can copy exactly those.
public final class AccessRecorder: Sendable {
    private let paths = Mutex<Set<String>>([])

    public init() {}

    public func record(_ relative: String) {
        _ = paths.withLock { $0.insert(relative) }
    }

    /// Everything recorded, sorted so parents come before children.
    public var recorded: [String] { paths.withLock { $0.sorted() } }
}
