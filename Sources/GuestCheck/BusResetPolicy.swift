/// `bus-reset` in /etc/vfioctl/hook.toml: what the hook does when a guest's function can be
/// reset only by a secondary bus reset that also reaches functions the host or another
/// running guest uses.
public enum BusResetPolicy: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Refuse the start (the default).
    case refuse
    /// Start, and print the warning.
    case warn

    public var description: String { rawValue }
}
