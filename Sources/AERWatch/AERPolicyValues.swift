import AEREvents

extension AERPolicy {
    /// `action` in aerd.toml: how guests that own a failing device are taken down.
    public enum Action: String, Sendable, CaseIterable, CustomStringConvertible {
        /// `virDomainDestroy`: immediate, like pulling the plug.
        case destroy
        /// `virDomainShutdown`: an ACPI power-button request the guest may take its time over.
        case shutdown

        public var description: String { rawValue }
    }

    /// `nonfatal-counter` in aerd.toml: what a non-fatal AER counter
    /// (`aer_dev_nonfatal`) that moved without a recovery uevent does.
    public enum NonFatalCounter: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Journal and log a warning; the guests keep running.
        case warn
        /// Take the owning guests down as for a fatal error.
        case takeDown = "take-down"

        public var description: String { rawValue }
    }
}

extension DecisionAction {
    /// The take-down the policy's `action` asks for.
    public init(_ takeDown: AERPolicy.Action) {
        switch takeDown {
        case .destroy: self = .destroy
        case .shutdown: self = .shutdown
        }
    }
}
