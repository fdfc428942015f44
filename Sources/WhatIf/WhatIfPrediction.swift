import Analysis
import PCIModel
import QuirkDB

/// What `inspect --assume-acs/--assume-quirk/--assume-no-quirk` asks.
public struct WhatIfAssumptions: Sendable, Equatable {
    public var acs: [ACSAssumption]
    /// Quirk ids to apply whatever their host conditions say.
    public var quirks: [String]
    /// Quirk ids to leave out.
    public var noQuirks: [String]

    public init(acs: [ACSAssumption] = [], quirks: [String] = [], noQuirks: [String] = []) {
        self.acs = acs
        self.quirks = quirks
        self.noQuirks = noQuirks
    }

    public var isEmpty: Bool { acs.isEmpty && quirks.isEmpty && noQuirks.isEmpty }
}

public enum WhatIfError: Error, Equatable, CustomStringConvertible {
    case acs(ACSAssumptionError)
    case quirk(QuirkAssumptionError)
    case repeated(PCIAddress)
    case repeatedQuirk(String)

    public var description: String {
        switch self {
        case .acs(let error): error.description
        case .quirk(let error): error.description
        case .repeated(let port): "--assume-acs \(port) is given twice"
        case .repeatedQuirk(let id): "quirk \(id) is named twice"
        }
    }
}

/// A quirk assumption and what stands between it and the host (its unmet host conditions).
public struct QuirkAssumption: Sendable {
    public var quirk: Quirk
    /// true: `--assume-quirk`; false: `--assume-no-quirk`.
    public var applied: Bool
    /// Whether the quirk matches some function of this host (with its host conditions) before.
    public var matchedBefore: Bool
    public var matchedAfter: Bool
}

/// The host as it is and as it would be under the assumptions: two full reports, so every
/// verdict and reason can be compared, not only the groups.
public struct WhatIfPrediction: Sendable {
    public let before: InspectReport
    public let beforeQuirks: QuirkEvaluation
    public let after: InspectReport
    public let afterQuirks: QuirkEvaluation
    public let acs: [ResolvedACSAssumption]
    public let quirkAssumptions: [QuirkAssumption]
    /// The `pci=config_acs=` that makes the ACS assumptions real; nil without ACS assumptions.
    public let parameter: ConfigACSParameter?
    /// true when "before" groups are the kernel's; false when only predicted (lspci dumps).
    public let beforeIsKernel: Bool

    /// `base` is this model's prediction without assumptions when the caller has it (`advise`
    /// compares every option with the same one): its "before" is reused, not rebuilt.
    /// `assessing` limits the reports' assessments to those functions (`advise` asks about
    /// one; groups are predicted for all).
    public init(
        model: HostModel, database: QuirkDatabase, assumptions: WhatIfAssumptions, base: WhatIfPrediction? = nil,
        assessing: Set<PCIAddress>? = nil
    ) throws(WhatIfError) {
        var resolved: [ResolvedACSAssumption] = []
        var seenQuirks = Set<String>()
        for id in assumptions.quirks + assumptions.noQuirks where !seenQuirks.insert(id).inserted {
            if !assumptions.quirks.contains(id) || !assumptions.noQuirks.contains(id) { throw .repeatedQuirk(id) }
        }
        let beforeQuirks = base?.beforeQuirks ?? QuirkEvaluation(database: database, model: model)
        for assumption in assumptions.acs {
            guard !resolved.contains(where: { $0.port == assumption.port }) else { throw .repeated(assumption.port) }
            if let device = model[assumption.port],
                case .quirk(let id, let isolated) = beforeQuirks.policy.evaluate(device).rule
            {
                throw .acs(.decidedByQuirk(assumption.port, id: id, isolated: isolated))
            }
            do {
                resolved.append(try assumption.resolve(in: model))
            } catch {
                throw .acs(error)
            }
        }
        let assumedDatabase: QuirkDatabase
        do {
            assumedDatabase = try database.assuming(applied: assumptions.quirks, removed: assumptions.noQuirks)
        } catch {
            throw .quirk(error)
        }
        before =
            base?.before
            ?? InspectReport(
                model: model, policy: beforeQuirks.policy, additionalReasons: beforeQuirks.reasons,
                assessing: assessing)
        self.beforeQuirks = beforeQuirks

        let assumedModel = model.withACSControl(Dictionary(resolved.map { ($0.port, $0.controlAfter) }) { a, _ in a })
        let afterQuirks = QuirkEvaluation(database: assumedDatabase, model: assumedModel)
        let prediction = GroupPrediction(model: assumedModel, policy: afterQuirks.policy)
        let afterModel = Self.asIfKernelFormed(prediction, in: assumedModel)
        after = InspectReport(
            model: afterModel, policy: afterQuirks.policy, additionalReasons: afterQuirks.reasons,
            assessing: assessing)
        self.afterQuirks = afterQuirks

        acs = resolved
        parameter =
            resolved.isEmpty
            ? nil : ConfigACSParameter(assumptions: resolved, commandLineWords: model.facts.commandLineWords)
        beforeIsKernel = model.kernelGroups?.isEmpty == false
        quirkAssumptions = (assumptions.quirks.map { ($0, true) } + assumptions.noQuirks.map { ($0, false) })
            .compactMap { id, applied in
                guard let quirk = database.quirk(id: id) else { return nil }
                return QuirkAssumption(
                    quirk: quirk, applied: applied,
                    matchedBefore: beforeQuirks.matches.values.contains { $0.contains { $0.quirk.id == id } }
                        || Self.isolationAnswered(id, beforeQuirks.policy, model),
                    matchedAfter: afterQuirks.matches.values.contains { $0.contains { $0.quirk.id == id } }
                        || Self.isolationAnswered(id, afterQuirks.policy, assumedModel))
            }
    }

    /// The host as it is (before and after the same): the base `advise` compares options with.
    public init(unchanged model: HostModel, database: QuirkDatabase, assessing: Set<PCIAddress>? = nil) {
        let quirks = QuirkEvaluation(database: database, model: model)
        before = InspectReport(
            model: model, policy: quirks.policy, additionalReasons: quirks.reasons, assessing: assessing)
        after = before
        beforeQuirks = quirks
        afterQuirks = quirks
        acs = []
        quirkAssumptions = []
        parameter = nil
        beforeIsKernel = model.kernelGroups?.isEmpty == false
    }

    /// Whether an isolation quirk answers some function's ACS test (isolation quirks are not
    /// listed among matches).
    private static func isolationAnswered(_ id: String, _ policy: ACSPolicy, _ model: HostModel) -> Bool {
        model.devices.contains { device in
            if case .quirk(let answered, _) = policy.evaluate(device).rule { return answered == id }
            return false
        }
    }

    /// The model with the predicted groups standing in for the kernel's, when the source had
    /// kernel groups: an unchanged group keeps its number, type and `/dev/vfio` node; a new
    /// one gets the next free number and its first member's old type.
    static func asIfKernelFormed(_ prediction: GroupPrediction, in model: HostModel) -> HostModel {
        guard let kernelGroups = model.kernelGroups, !kernelGroups.isEmpty else { return model }
        var byMembers: [[PCIAddress]: Int] = [:]
        var groupOf: [PCIAddress: Int] = [:]
        for (id, members) in kernelGroups {
            byMembers[members.sorted()] = id
            for member in members { groupOf[member] = id }
        }
        var next = (kernelGroups.keys.max() ?? -1) + 1
        var groups: [Int: [PCIAddress]] = [:]
        var types: [Int: IOMMUGroupType] = [:]
        var nodes: Set<Int> = []
        for members in prediction.groups {
            if let id = byMembers[members] {
                groups[id] = members
                types[id] = model.groupTypes[id]
                if model.vfioGroupNodes.contains(id) { nodes.insert(id) }
            } else {
                groups[next] = members
                types[next] = groupOf[members[0]].flatMap { model.groupTypes[$0] }
                next += 1
            }
        }
        var changed = model
        changed.kernelGroups = groups
        changed.groupTypes = types
        changed.vfioGroupNodes = nodes
        return changed
    }

    /// The predicted group holding `address` before: what "after" is compared with, so that a
    /// kernel whose groups are not its rules' (pcie_acs_override=) cannot fake a change.
    public func predictedBefore(_ address: PCIAddress) -> [PCIAddress]? {
        before.prediction.group(of: address).map { before.prediction.groups[$0] }
    }

    /// Whether the kernel's groups differ from what its rules predict for this source
    /// (the comparison is then between predictions, and says so).
    public var kernelDisagrees: Bool { !before.disagreements.isEmpty }

    /// The group holding `address` before: the kernel's when known, else the predicted one.
    public func groupBefore(_ address: PCIAddress) -> [PCIAddress]? {
        if beforeIsKernel, let id = before.model[address]?.iommuGroup ?? kernelGroupID(address, before.model) {
            return before.model.kernelGroups?[id]?.sorted()
        }
        return before.prediction.group(of: address).map { before.prediction.groups[$0] }
    }

    /// The predicted group holding `address` under the assumptions.
    public func groupAfter(_ address: PCIAddress) -> [PCIAddress]? {
        after.prediction.group(of: address).map { after.prediction.groups[$0] }
    }

    private func kernelGroupID(_ address: PCIAddress, _ model: HostModel) -> Int? {
        model.kernelGroups?.first { $0.value.contains(address) }?.key
    }

    /// Functions whose predicted group differs between before and after, in address order.
    public var changedFunctions: [PCIAddress] {
        before.model.devices.map(\.address).filter { predictedBefore($0) != groupAfter($0) }
    }
}
