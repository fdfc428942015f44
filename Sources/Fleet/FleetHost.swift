import Analysis
import PCIModel
import QuirkDB

/// One host of a fleet as `vfioctl report` compares it: its name, its inspect report and the
/// quirk database evaluated on it (its own `etc/vfioctl/quirks.d` included). Loading the
/// snapshot is the caller's job; this is pure.
public struct FleetHost: Sendable {
    /// What the report calls the host: the snapshot's `proc/sys/kernel/hostname`, else its file
    /// name. `FleetReport` makes the names of its hosts unique (`FleetHostNames`).
    public internal(set) var name: String
    /// The snapshot file the host was read from (unique in the directory), when there is one:
    /// what tells apart hosts that recorded the same hostname.
    public let file: String?
    /// The report and ACS policy, as `vfioctl diff` takes a side (so the same-board
    /// explanations are `HostDiff`'s own).
    public let side: HostDiffSide
    /// Quirk ids matched per function (`QuirkEvaluation.matches`), sorted.
    public let quirkIDs: [PCIAddress: [String]]
    /// Which groups the layout is read from: the kernel's when the host has any, else predicted.
    public let basis: HostDiff.GroupBasis
    private let groupIndex: [PCIAddress: [PCIAddress]]

    public init(name: String, file: String? = nil, report: InspectReport, quirks: QuirkEvaluation) {
        self.name = name
        self.file = file
        side = HostDiffSide(report: report, policy: quirks.policy)
        quirkIDs = quirks.matches.mapValues { $0.map(\.quirk.id).sorted() }.filter { !$0.value.isEmpty }
        let kernel = report.model.kernelGroups ?? [:]
        basis = kernel.isEmpty ? .predicted : .kernel
        let groups = basis == .kernel ? Array(kernel.values) : report.prediction.groups
        var index: [PCIAddress: [PCIAddress]] = [:]
        for members in groups {
            let sorted = members.sorted()
            for member in sorted { index[member] = sorted }
        }
        groupIndex = index
    }

    public var model: HostModel { side.report.model }

    /// The members of `address`'s group (itself included); nil when it is in no group.
    public func group(of address: PCIAddress) -> [PCIAddress]? { groupIndex[address] }
}
