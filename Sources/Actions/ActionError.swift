import PCIModel

/// Why an action could not be planned or did not complete. The message says what to do; the
/// error below it, if any, is `cause`.
public struct ActionError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The request makes no sense for this host (no such group, not a PF, too many VFs).
        case invalidRequest
        /// It would take something the host depends on; `--force` overrides.
        case hostDependency
        /// Another vfioctl action holds the lock.
        case busy
        /// A write or the check after it failed; the host was rolled back.
        case failedAndRolledBack
        /// A write failed and rolling back failed too: `vfioctl recover` has the journal.
        case failedRollbackIncomplete
        /// The kernel did not do it in time (VFs, /dev/vfio/N).
        case timeout
        /// A guest (or another binding) uses a device the action would take away.
        case inUse
        /// The journal could not be written (disk full, read-only state directory): the
        /// action stopped before the change it would have protected.
        case cannotJournal
        /// A crashed action's journal waits for `vfioctl recover`.
        case unfinishedJournal
    }

    public var code: Code
    public var message: String

    /// The lower-layer error this one wraps (a `HostAccessError` with its path, system call
    /// and `Errno`), when there is one.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message with control characters from files shown as `?` (`String.terminalSafe`).
    public var description: String { message.terminalSafe }
}
