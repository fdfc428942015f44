import Analysis
import PCIModel
import QuirkDB

/// The libvirt `<hostdev>` elements that give a guest one IOMMU group (`vfioctl xml`): one
/// per endpoint of the group, with `managed` by `ManagedPolicy`, and what vfioctl knows
/// against the group as XML comments. Bridges of the group get no element (they stay with
/// the host on pcieport; libvirt never assigns them). A blocked group is refused unless forced.
public struct HostdevDefinitions: Sendable {
    /// One `<hostdev mode='subsystem' type='pci'>`.
    public struct Hostdev: Sendable, Equatable {
        public var address: PCIAddress
        public var managed: Bool
        public var guestAddress: GuestPlacement.Address?
    }

    public let group: AssignedGroup
    /// The group's verdict: the worst of its endpoints' (`InspectReport.verdict(ofGroup:)`).
    public let verdict: Verdict
    public let hostdevs: [Hostdev]
    /// What the XML says in comments before the elements, one line each.
    public let notes: [String]
    /// Where the model came from, for the first comment.
    public let source: String

    /// `force` writes a blocked group anyway, its reasons as comments. `placement` adds guest
    /// addresses; nil leaves them to libvirt.
    public init(
        report: InspectReport, quirks: QuirkEvaluation, target: DeviceTarget, managed policy: ManagedPolicy,
        force: Bool = false, placement: GuestPlacement? = nil
    ) throws(DefinitionError) {
        let model = report.model
        let group = try AssignedGroup(target: target, model: model, prediction: report.prediction)
        self.group = group
        source = model.source
        let devices = group.endpoints.compactMap { model[$0] }
        let assessments = devices.map { report.assessment(of: $0.address) ?? report.assess($0) }
        let verdicts = Dictionary(assessments.map { ($0.address, $0.verdict) }, uniquingKeysWith: { a, _ in a })
        let verdict = report.verdict(ofGroup: group.members, verdicts: verdicts)
        self.verdict = verdict
        if verdict == .blocked && !force {
            let lines = Self.reasonLines(assessments, minimum: .blocked)
            throw DefinitionError(
                .blocked,
                "\(group.origin) cannot be given to a guest:\n"
                    + lines.map { "  " + $0 }.joined(separator: "\n")
                    + "\nFix what is named above, or pass --force to write the hostdevs anyway (with these reasons as comments)."
            )
        }
        let guestAddresses = try placement?.addresses(for: devices) ?? [:]
        hostdevs = devices.map { device in
            Hostdev(
                address: device.address, managed: policy.isManaged(device), guestAddress: guestAddresses[device.address]
            )
        }
        var notes: [String] = []
        if case .predicted = group.origin {
            notes.append(
                "the source has no kernel IOMMU groups: this group is predicted from config space; check `vfioctl inspect` on the host that runs the guest"
            )
        }
        if !group.bridges.isEmpty {
            notes.append(
                "bridges and ports of this group stay with the host and get no <hostdev>: "
                    + group.bridges.map(\.description).joined(separator: ", "))
        }
        for device in devices where !policy.isManaged(device) && !device.isVFIOOwned {
            notes.append(
                "\(device.address) is managed='no' but \(device.vfioOwnership) now: bind its group first (`vfioctl bind`, or bind-unmanaged = true in hook.toml), else the hook refuses the guest"
            )
        }
        notes += Self.reasonLines(assessments, minimum: .caveats, omitting: Self.saidByAssigningTheGroup)
        var seenQuirks = Set<String>()
        for device in devices {
            for match in quirks.matches[device.address] ?? [] where seenQuirks.insert(match.quirk.id).inserted {
                let when = match.dependsOnGuest ? " (if the guest matches; the hook checks it at start)" : ""
                notes.append("quirk [\(match.quirk.id)] \(match.quirk.title)\(when)")
            }
        }
        self.notes = notes
    }

    /// Caveats the definitions answer themselves: the whole group is given (group-shared), libvirt
    /// or the hook moves the functions off their host drivers (host-driver, group-member-driver),
    /// the predicted group has a note of its own (groups-predicted). Blocking reasons are
    /// always written.
    static let saidByAssigningTheGroup: Set<ReasonCode> = [
        .groupShared, .groupMemberDriver, .hostDriver, .groupsPredicted,
    ]

    /// Reasons at `minimum` or worse, each once with the functions it was found on:
    /// `blocked 0000:04:00.0: [host-dependency] …`. Caveats with a code in `omitting` are left out.
    static func reasonLines(
        _ assessments: [DeviceAssessment], minimum: Verdict, omitting: Set<ReasonCode> = []
    ) -> [String] {
        var order: [String] = []
        var found: [String: [PCIAddress]] = [:]
        var severity: [String: Verdict] = [:]
        for assessment in assessments {
            for reason in assessment.reasons
            where reason.severity >= minimum && (reason.severity == .blocked || !omitting.contains(reason.code)) {
                let key = "[\(reason.code)] \(reason.message)"
                if found[key] == nil {
                    order.append(key)
                    severity[key] = reason.severity
                }
                found[key, default: []].append(assessment.address)
            }
        }
        return order.map { key in
            "\(severity[key]?.rawValue ?? "") \(found[key, default: []].map(\.description).joined(separator: ", ")): \(key)"
        }
    }
}
