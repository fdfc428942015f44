import Analysis
import PCIModel
import QuirkDB

/// `vfioctl advise ADDRESS`: the smallest changes that give one function an IOMMU group of its
/// own (nothing in it but its own slot's functions and bridges), ranked by how real the
/// isolation is.
public struct Advice: Sendable {
    /// How much the isolation of an option can be trusted.
    public enum Safety: Int, Sendable, Comparable {
        /// The hardware enforces it: ACS bits set in a port's Control register, or a slot
        /// whose ports isolate.
        case hardware = 0
        /// The device's vendor states the function does no peer-to-peer (a kernel quirk).
        case vendorStatement = 1
        /// Nothing enforces it: groups only look split.
        case none = 2

        public static func < (a: Safety, b: Safety) -> Bool { a.rawValue < b.rawValue }

        public var name: String {
            switch self {
            case .hardware: "hardware"
            case .vendorStatement: "vendor-statement"
            case .none: "none"
            }
        }
    }

    public enum Change: Sendable {
        /// Set ACS bits at boot with `pci=config_acs=`.
        case configACS(ConfigACSParameter, kernelNote: String?)
        /// Boot a kernel where this isolation quirk applies.
        case kernelQuirk(id: String, title: String, conditions: String)
        /// Move the card to the slot below this port.
        case moveCard(SlotOption)
        /// The out-of-tree `pcie_acs_override=` patch, or libvirt's `relaxed_acs_check`.
        case overrideOnly

        public var kind: String {
            switch self {
            case .configACS: "config-acs"
            case .kernelQuirk: "kernel-quirk"
            case .moveCard: "move-card"
            case .overrideOnly: "acs-override"
            }
        }
    }

    public struct Option: Sendable {
        public var change: Change
        public var safety: Safety
        /// The group the function would be in (predicted); nil when it cannot be predicted
        /// (a card moved, or an override that changes nothing real).
        public var groupAfter: [PCIAddress]?
        /// Whether the function would then share its group with no other device.
        public var alone: Bool
        /// One paragraph: what to do and what it costs.
        public var explanation: String
    }

    public var address: PCIAddress
    /// The group predicted by the kernel's rules (what the options are compared with).
    public var groupNow: [PCIAddress]
    /// The kernel's own group, when it differs from the predicted one (an override kernel).
    public var kernelGroupNow: [PCIAddress]?
    public var verdictNow: Verdict
    public var aloneNow: Bool
    /// Options, the ones that make the function alone first, then by safety, then by size.
    public var options: [Option]
    /// Bridges above that fail the ACS test and that no parameter can fix (no ACS capability,
    /// conventional PCI), each with why.
    public var unfixable: [(address: PCIAddress, why: String)]
}

public enum AdviceError: Error, CustomStringConvertible {
    case noSuchFunction(PCIAddress, source: String)
    case bridge(PCIAddress)

    public var description: String {
        switch self {
        case .noSuchFunction(let address, let source): "no PCI function \(address) in \(source)"
        case .bridge(let address):
            "\(address) is a bridge: bridges stay with the host; name a device below it (`vfioctl inspect --tree`)"
        }
    }
}

extension Advice {
    public init(for address: PCIAddress, model: HostModel, database: QuirkDatabase) throws(AdviceError) {
        guard let device = model[address] else { throw .noSuchFunction(address, source: model.source) }
        guard !device.isBridge else { throw .bridge(address) }
        // Only this function is assessed, and every option is compared with the same base.
        let now = WhatIfPrediction(unchanged: model, database: database, assessing: [address])
        self.address = address
        groupNow = now.predictedBefore(address) ?? [address]
        let kernelGroup = now.beforeIsKernel ? now.groupBefore(address) : nil
        kernelGroupNow = kernelGroup == groupNow ? nil : kernelGroup
        verdictNow = now.before.verdict(of: address) ?? .unknown
        aloneNow = GroupSharing.isAlone(address, in: groupNow, model: model)
        let policy = now.beforeQuirks.policy

        // Everything on the function's path that fails the ACS test: the bridges, and the
        // function itself and its slot siblings when multifunction.
        var failing: [PCIDevice] = model.upstreamBridges(of: address).filter { !policy.evaluate($0).enabled }
        if device.isMultifunction {
            failing += ([device] + model.slotSiblings(of: address)).filter { !policy.evaluate($0).enabled }
        }
        var fixable: [ACSAssumption] = []
        var unfixable: [(address: PCIAddress, why: String)] = []
        for candidate in failing {
            if case .quirk(let id, _) = policy.evaluate(candidate).rule {
                unfixable.append((candidate.address, "quirk \(id) decides its ACS test; Control bits do not matter"))
                continue
            }
            switch ACSAssumption(port: candidate.address).resolveForAdvice(in: model) {
            case .success(let resolved) where !resolved.enabling.isEmpty:
                fixable.append(ACSAssumption(port: candidate.address))
            case .success:
                unfixable.append((candidate.address, policy.evaluate(candidate).rule.explanation))
            case .failure(let error):
                unfixable.append((candidate.address, Self.shortReason(error, policy.evaluate(candidate).rule)))
            }
        }
        self.unfixable = unfixable

        var options: [Option] = []
        if !aloneNow {
            if !fixable.isEmpty,
                let prediction = try? WhatIfPrediction(
                    model: model, database: database, assumptions: WhatIfAssumptions(acs: fixable), base: now,
                    assessing: [address]),
                let parameter = prediction.parameter
            {
                let group = prediction.groupAfter(address) ?? [address]
                let alone = GroupSharing.isAlone(address, in: group, model: model)
                let note = parameter.kernelNote(running: model.facts.kernelVersion)
                let ports = prediction.acs.map { "\($0.port) (\($0.enabling.shortNames.joined(separator: " ")))" }
                let tooOld = model.facts.kernelVersion.map { $0 < ConfigACSParameter.introduced } ?? false
                let iommuOff = model.kernelGroups?.isEmpty == true
                options.append(
                    Option(
                        change: .configACS(parameter, kernelNote: note), safety: .hardware, groupAfter: group,
                        alone: alone,
                        explanation: (iommuOff
                            ? "The IOMMU is off: with it on (intel_iommu=on; AMD-Vi is on by default) the kernel "
                                + "enables SV RR CR UF on these ports itself, so try that first. Otherwise: " : "")
                            + (tooOld ? "On Linux \(ConfigACSParameter.introduced) or later, set" : "Set")
                            + " the ACS bits left off on \(ports.joined(separator: ", ")) at boot: add "
                            + "\(parameter.grubWord) to the kernel command line (GRUB_CMDLINE_LINUX)"
                            + (note.map { " (\($0))" } ?? "")
                            + (alone
                                ? (unfixable.isEmpty
                                    ? "."
                                    : ". The kernel would then group it without other devices, but "
                                        + "\(Self.describeUnfixable(unfixable)): peer-to-peer through "
                                        + "\(unfixable.count == 1 ? "that bridge" : "those bridges") stays possible in hardware.")
                                : "; not enough alone: \(Self.describeUnfixable(unfixable))")))
            }
            options += Self.quirkOptions(for: address, model: model, database: database, now: now)
            for slot in SlotSearch.isolatingSlots(
                for: address, in: model, policy: policy, prediction: now.before.prediction)
            {
                let taken =
                    slot.isFree
                    ? "free" : "taken by \(slot.occupiedBy.map(\.description).joined(separator: ", "))"
                options.append(
                    Option(
                        change: .moveCard(slot), safety: .hardware, groupAfter: nil, alone: true,
                        explanation: "Move the card to the slot below \(slot.port) [\(slot.portIDs)] (\(taken)): "
                            + (slot.pathIsolated
                                ? "that port and every bridge above it pass the kernel's ACS test, so the card's "
                                    + "functions would get a group of their own."
                                : "the kernel's walk would join only bridges there (\(slot.port)'s group holds "
                                    + "no other device), so the card's functions would share with no other device.")
                            + " Addresses change with the slot."))
            }
            options.append(
                Option(
                    change: .overrideOnly, safety: .none, groupAfter: nil, alone: false,
                    explanation: "pcie_acs_override= (an out-of-tree kernel patch) or libvirt's relaxed_acs_check "
                        + "only make the kernel believe in isolation the hardware does not give: the devices "
                        + "below can still reach each other peer-to-peer, so a guest could reach the host's or "
                        + "another guest's device. Never for guests you do not trust."))
        }
        self.options = options.enumerated()
            .sorted { a, b in
                (a.element.alone ? 0 : 1, a.element.safety, a.offset) < (
                    b.element.alone ? 0 : 1, b.element.safety, b.offset
                )
            }
            .map(\.element)
    }

    /// Isolation quirks that hold on some other host or kernel (their host conditions fail
    /// here) and would change this function's group if they applied.
    private static func quirkOptions(
        for address: PCIAddress, model: HostModel, database: QuirkDatabase, now: WhatIfPrediction
    ) -> [Option] {
        database.quirks.filter { $0.effect.isIsolation && $0.host != nil }.compactMap { quirk in
            guard
                let prediction = try? WhatIfPrediction(
                    model: model, database: database, assumptions: WhatIfAssumptions(quirks: [quirk.id]), base: now,
                    assessing: [address]),
                let group = prediction.groupAfter(address), group != now.groupBefore(address)
            else { return nil }
            let conditions = quirk.host?.summary ?? ""
            let alone = GroupSharing.isAlone(address, in: group, model: model)
            return Option(
                change: .kernelQuirk(id: quirk.id, title: quirk.title, conditions: conditions),
                safety: .vendorStatement, groupAfter: group, alone: alone,
                explanation: "Quirk \(quirk.id) (\(quirk.title)) would isolate it, but its host conditions "
                    + "do not hold here (\(conditions)); it is defined at \(quirk.source).")
        }
    }

    static func shortReason(_ error: ACSAssumptionError, _ rule: ACSEvaluation.Rule) -> String {
        switch error {
        case .noCapability: "no ACS capability: nothing upstream can make it isolate"
        default: rule.explanation
        }
    }

    static func describeUnfixable(_ unfixable: [(address: PCIAddress, why: String)]) -> String {
        unfixable.isEmpty
            ? "other functions stay in the group"
            : unfixable.map { "\($0.address): \($0.why)" }.joined(separator: "; ")
    }
}

extension ACSAssumption {
    func resolveForAdvice(in model: HostModel) -> Result<ResolvedACSAssumption, ACSAssumptionError> {
        do {
            return .success(try resolve(in: model))
        } catch {
            return .failure(error)
        }
    }
}
