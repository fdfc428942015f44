import PCIModel

/// The assessment of one function.
public struct DeviceAssessment: Sendable {
    public var address: PCIAddress
    public var verdict: Verdict
    public var reasons: [Reason]
    public var predictedGroup: Int?
    /// How the function can be reset, and what a bus reset would take with it.
    public var reset: ResetCapability
}

/// A kernel group whose members differ from the predicted group of the same functions.
public struct GroupDisagreement: Sendable, Equatable {
    public var kernelGroup: Int
    public var kernelMembers: [PCIAddress]
    public var predictedMembers: [PCIAddress]
}

/// Everything `vfioctl inspect` reports: the model, predicted groups, per-device and
/// per-group verdicts with reasons, disagreements between kernel and prediction, host checks.
public struct InspectReport: Sendable {
    public let model: HostModel
    public let prediction: GroupPrediction
    public let devices: [DeviceAssessment]
    public let disagreements: [GroupDisagreement]
    public let hostChecks: [HostCheck]
    private let verdictIndex: [PCIAddress: Verdict]
    /// The rules, kept to assess functions on demand (`assess(_:)`).
    private let rules: AssignabilityRules

    /// `additionalReasons` adds reasons from outside the generic rules (the quirk database).
    /// `assessing` limits the assessments made up front to those functions (the hook asks
    /// about its guest's, not the host's thousands; `inspect --json` assesses as it writes,
    /// with `assess(_:)`, so a host's reasons are never all in memory at once). Groups are
    /// still predicted for every function.
    public init(
        model: HostModel, policy: ACSPolicy = ACSPolicy(),
        additionalReasons: @escaping @Sendable (PCIDevice) -> [Reason] = { _ in [] },
        assessing: Set<PCIAddress>? = nil
    ) {
        self.model = model
        let policy = policy.memoized(for: model)
        let prediction = GroupPrediction(model: model, policy: policy)
        self.prediction = prediction
        let disagreements = Self.compare(model: model, prediction: prediction)
        self.disagreements = disagreements
        let hostChecks = HostChecks.run(model)
        self.hostChecks = hostChecks
        let context = AssignabilityRules(
            model: model, prediction: prediction, policy: policy, disagreements: disagreements, hostChecks: hostChecks,
            additionalReasons: additionalReasons)
        rules = context
        let devices = model.devices(in: assessing).parallelMap { context.assess($0) }
        self.devices = devices
        verdictIndex = Dictionary(devices.map { ($0.address, $0.verdict) }, uniquingKeysWith: { a, _ in a })
    }

    /// The assessment of `device`, as `devices` holds it for the functions assessed up front.
    public func assess(_ device: PCIDevice) -> DeviceAssessment {
        rules.assess(device)
    }

    public func assessment(of address: PCIAddress) -> DeviceAssessment? {
        devices.first { $0.address == address }
    }

    public func verdict(of address: PCIAddress) -> Verdict? { verdictIndex[address] }

    /// The worst verdict among a group's endpoints (bridges stay with the host).
    public func verdict(ofGroup members: [PCIAddress]) -> Verdict {
        verdict(ofGroup: members, verdicts: verdictIndex)
    }

    /// As `verdict(ofGroup:)`, with the verdicts of functions assessed by `assess(_:)`.
    public func verdict(ofGroup members: [PCIAddress], verdicts: [PCIAddress: Verdict]) -> Verdict {
        let endpoints = members.filter { model[$0]?.isBridge == false }
        return endpoints.compactMap { verdicts[$0] }.max() ?? .blocked
    }

    private static func compare(model: HostModel, prediction: GroupPrediction) -> [GroupDisagreement] {
        guard let kernelGroups = model.kernelGroups else { return [] }
        var result: [GroupDisagreement] = []
        for (id, members) in kernelGroups.sorted(by: { $0.key < $1.key }) {
            let kernelSet = Set(members)
            let predictedIDs = Set(members.compactMap { prediction.group(of: $0) })
            let predicted = Set(predictedIDs.flatMap { prediction.groups[$0] })
            if predicted != kernelSet {
                result.append(
                    .init(kernelGroup: id, kernelMembers: members.sorted(), predictedMembers: predicted.sorted()))
            }
        }
        return result
    }
}
