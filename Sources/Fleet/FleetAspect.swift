import Analysis
import PCIModel

/// What a fleet report compares for each function of a device model.
public enum FleetAspect: String, Sendable, CaseIterable {
    /// The function's IOMMU group by shape: alone, or which ids and classes share it (never
    /// the group number, which changes between boots).
    case groupLayout = "group-layout"
    /// The ACS answer of the function and of every bridge above it: capability, control and
    /// isolated or not, with the rule or quirk that decided.
    case upstreamACS = "upstream-acs"
    /// The quirks of the database (built in and the host's own) that match the function.
    case quirks
    /// vfioctl's verdict and the codes of the reasons that lower it.
    case verdict

    /// A few words for text output.
    public var title: String {
        switch self {
        case .groupLayout: "group layout"
        case .upstreamACS: "ACS on the path"
        case .quirks: "quirks"
        case .verdict: "verdict"
        }
    }
}

/// One function's values of every aspect, as lines of display text.
struct FunctionProfile: Sendable {
    let address: PCIAddress
    let values: [FleetAspect: [String]]
    /// The messages of the reasons that lower the verdict (the why of a verdict).
    let verdictReasons: [String]

    init(_ device: PCIDevice, on host: FleetHost) {
        address = device.address
        let model = host.model
        let report = host.side.report
        var values: [FleetAspect: [String]] = [:]

        let members = host.group(of: device.address) ?? []
        let others = members.filter { $0 != device.address }.compactMap { model[$0] }
        // The shape only: whether the groups are the kernel's or predicted is the host's
        // (`FleetHost.basis`, shown once per host), so that alone does not make hosts differ.
        if members.isEmpty {
            values[.groupLayout] = ["in no group"]
        } else if others.isEmpty {
            values[.groupLayout] = ["alone"]
        } else {
            let shapes = others.map { "\($0.ids) (class \(hex($0.config.classCode >> 8, width: 4)))" }.sorted()
            values[.groupLayout] = ["shared with \(others.count):"] + shapes.map { "  " + $0 }
        }

        let policy = host.side.policy
        func acsLine(_ function: PCIDevice, label: String) -> String {
            let answer = policy.evaluate(function)
            let registers =
                function.config.acs.map {
                    "cap \(HostDiff.describe($0.capability)), ctl \(HostDiff.describe($0.control))"
                } ?? "no ACS capability"
            return "\(label): \(registers); \(answer.enabled ? "isolated" : "not isolated") "
                + "(\(answer.rule.explanation))"
        }
        var path = [acsLine(device, label: "itself")]
        for bridge in model.upstreamBridges(of: device.address) {
            path.append(acsLine(bridge, label: "\(bridge.ids) \(bridge.portType?.jsonName ?? "bridge")"))
        }
        values[.upstreamACS] = path

        let quirks = host.quirkIDs[device.address] ?? []
        values[.quirks] = [quirks.isEmpty ? "none" : quirks.joined(separator: " ")]

        let assessment = report.assessment(of: device.address) ?? report.assess(device)
        let lowering = assessment.reasons.filter { $0.severity > .assignable }
        let codes = Array(Set(lowering.map(\.code.rawValue))).sorted()
        values[.verdict] = [assessment.verdict.rawValue + (codes.isEmpty ? "" : ": " + codes.joined(separator: ", "))]
        verdictReasons = lowering.map(\.message)
        self.values = values
    }
}
