import Analysis
import PCIModel

/// The hosts that agree on one aspect of a device model, and what they agree on.
public struct FleetVariant: Sendable, Equatable {
    /// The value, as lines of display text (a host whose functions of the model differ
    /// among themselves has one line per function, each starting with its address).
    public var lines: [String]
    /// Sorted host names.
    public var hosts: [String]
    /// For a verdict: the reasons that lower it, from the first host of the variant (each
    /// prefixed with the host and function).
    public var detail: [String]
}

/// One aspect of a model compared over the hosts that have it: one variant when they all
/// agree, more when they differ (the variant with the most hosts first).
public struct FleetComparison: Sendable, Equatable {
    public var aspect: FleetAspect
    public var variants: [FleetVariant]

    public var differs: Bool { variants.count > 1 }
}

/// Why a host's groups around the model differ from the reference host of its board, as
/// `vfioctl diff REFERENCE HOST` explains it (`HostDiff`'s group-change reasons).
public struct FleetExplanation: Sendable, Equatable {
    public var host: String
    public var reference: String
    public var reasons: [GroupChangeReason]
}

/// One device model on one board: which of the board's hosts have it (and where), which
/// lack it, and every aspect compared.
public struct FleetModelEntry: Sendable {
    public var board: FleetBoard
    public var model: DeviceModel
    /// The pci.ids name (from the first host that knows it).
    public var name: String?
    /// Host name and the model's functions on it, sorted by host name.
    public var hosts: [(name: String, functions: [PCIAddress])]
    /// Hosts of the board without the model.
    public var missingOn: [String]
    public var comparisons: [FleetComparison]
    public var explanations: [FleetExplanation]

    /// Some aspect differs between hosts, or some host of the board lacks the model.
    public var differs: Bool { comparisons.contains(where: \.differs) || !missingOn.isEmpty }
}
