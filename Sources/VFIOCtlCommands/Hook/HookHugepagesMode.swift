extension HookConfig {
    /// `hugepages` in hook.toml: what the hook does about the hugepages a guest's
    /// `<memoryBacking><hugepages>` needs (the pools under
    /// `/sys/kernel/mm/hugepages/hugepages-*kB` and `/sys/devices/system/node/node*/hugepages`).
    enum HugepagesMode: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Refuse the start when the pools have too few free pages.
        case check
        /// Grow the host-wide pools by what is missing (undone at release), then check.
        case reserve
        /// Neither check nor reserve: the supply is not looked at.
        case ignore

        var description: String { rawValue }
    }
}
