import PCIModel

/// One of the two hosts `vfioctl diff A B` compares.
public enum DiffSide: String, Sendable, Equatable {
    case a = "A"
    case b = "B"
}

/// One side of a comparison: its report and the ACS policy (with that side's own isolation
/// quirks) the report was made with.
public struct HostDiffSide: Sendable {
    public var report: InspectReport
    public var policy: ACSPolicy

    public init(report: InspectReport, policy: ACSPolicy) {
        self.report = report
        self.policy = policy.memoized(for: report.model)
    }

    var model: HostModel { report.model }
}

/// A function as a diff names it: address, `vvvv:dddd`, and the pci.ids name when known.
public struct FunctionSummary: Sendable, Equatable {
    public var address: PCIAddress
    public var ids: String
    public var name: String?

    public init(_ device: PCIDevice) {
        address = device.address
        ids = device.ids
        name = device.name
    }
}

/// A function whose vendor:device changed at the same address (a card swapped in the slot).
public struct FunctionReplacement: Sendable, Equatable {
    public var before: FunctionSummary
    public var after: FunctionSummary
}

/// One property of a function present on both sides that differs. Values are display text;
/// nil means the side cannot tell (the sysfs file is absent, the capability missing).
public struct FunctionChange: Sendable, Equatable {
    public enum Field: String, Sendable, CaseIterable {
        /// The `driver` link.
        case driver
        /// ACS Capability register (ACS cap +0x04), as `0x001f SV RR CR UF`.
        case acsCapability
        /// ACS Control register (ACS cap +0x06).
        case acsControl
        /// `pci_dev->multifunction` (header bit 7, or function > 0).
        case multifunction
        /// `reset_method`, space-separated; "" when the file is empty (reset disabled).
        case resetMethods
        /// SR-IOV NumVFs / TotalVFs (SR-IOV cap +0x10 / +0x0e).
        case sriovNumVFs
        case sriovTotalVFs
        /// vfioctl's verdict for the function.
        case verdict
    }

    public var address: PCIAddress
    public var field: Field
    public var before: String?
    public var after: String?
}

/// Why a group changed, as far as config space and the two quirk databases tell.
public enum GroupChangeReason: Sendable, Equatable {
    /// An isolation quirk (`pci_dev_acs_enabled[]` or a local one) answers for `address` on
    /// `side` only, and the ACS answer differs between the sides.
    case isolationQuirk(id: String, address: PCIAddress, side: DiffSide, isolated: Bool)
    /// The ACS Control word of `address` differs and so does its ACS answer.
    case acsControl(address: PCIAddress, before: ACSFlags, after: ACSFlags)
    /// The ACS capability appeared, vanished or advertises other flags.
    case acsCapability(address: PCIAddress, before: ACSFlags?, after: ACSFlags?)
    /// The ACS answer differs for another reason (port type, rule), with both rules.
    case acsRule(address: PCIAddress, before: ACSEvaluation.Rule, after: ACSEvaluation.Rule)
    /// A bridge above a member is on `side`'s path only.
    case bridgeOnlyOn(address: PCIAddress, side: DiffSide)
    /// Members that exist on one side only, or are another vendor:device at the same address.
    case functions(removed: [PCIAddress], added: [PCIAddress], replaced: [PCIAddress])
    /// The function became (`after` true) or stopped being multifunction.
    case multifunction(address: PCIAddress, before: Bool, after: Bool)
    /// Kernel parameters that decide groups (`iommu`, `*_iommu`, `pcie_acs_override`, `pci=`)
    /// differ: the words only A has, and only B has.
    case kernelParameters(onlyA: [String], onlyB: [String])
    /// The two sides run different kernels (`kernel/osrelease`).
    case kernelRelease(a: String?, b: String?)
    /// Nothing in config space explains the change (the kernel groups differ where the
    /// predictions agree); the kernel releases of both sides.
    case notExplainedByConfigSpace(a: String?, b: String?)

    /// A stable code for scripts.
    public var code: String {
        switch self {
        case .isolationQuirk: "isolation-quirk"
        case .acsControl: "acs-control"
        case .acsCapability: "acs-capability"
        case .acsRule: "acs-rule"
        case .bridgeOnlyOn: "bridge"
        case .functions: "functions"
        case .multifunction: "multifunction"
        case .kernelParameters: "kernel-parameters"
        case .kernelRelease: "kernel-release"
        case .notExplainedByConfigSpace: "not-explained"
        }
    }

    /// The function it is about, if one.
    public var address: PCIAddress? {
        switch self {
        case .isolationQuirk(_, let address, _, _), .acsControl(let address, _, _), .acsCapability(let address, _, _),
            .acsRule(let address, _, _), .bridgeOnlyOn(let address, _), .multifunction(let address, _, _):
            address
        case .functions, .kernelParameters, .kernelRelease, .notExplainedByConfigSpace: nil
        }
    }

    /// One line for people.
    public var message: String {
        switch self {
        case .isolationQuirk(let id, let address, let side, let isolated):
            return "isolation quirk \(id) applies on \(side.rawValue) only: \(address) "
                + (isolated ? "counts as isolated" : "counts as not isolated") + " there"
        case .acsControl(let address, let before, let after):
            return "ACS control word of \(address): \(Self.describe(before)) → \(Self.describe(after))"
        case .acsCapability(let address, let before, let after):
            return "ACS capability of \(address): \(before.map(Self.describe) ?? "absent") → "
                + (after.map(Self.describe) ?? "absent")
        case .acsRule(let address, let before, let after):
            return "ACS answer of \(address): \(before.explanation) → \(after.explanation)"
        case .bridgeOnlyOn(let address, let side):
            return "bridge \(address) is on the path on \(side.rawValue) only"
        case .functions(let removed, let added, let replaced):
            let parts = [("removed", removed), ("added", added), ("replaced", replaced)].filter { !$0.1.isEmpty }
            return "functions "
                + parts.map { "\($0.0): " + $0.1.map(\.description).joined(separator: " ") }.joined(separator: "; ")
        case .multifunction(let address, let before, let after):
            return "\(address) \(after && !before ? "became" : "stopped being") multifunction"
        case .kernelParameters(let onlyA, let onlyB):
            return "kernel parameters differ: A has \(Self.words(onlyA)), B has \(Self.words(onlyB))"
        case .kernelRelease(let a, let b):
            return "kernel \(a ?? "unknown") → \(b ?? "unknown")"
        case .notExplainedByConfigSpace(let a, let b):
            if a != b {
                return "not explained by config space: the kernels' rules differ "
                    + "(\(Self.short(a)) vs \(Self.short(b)))"
            }
            return "not explained by config space or the quirks (same kernel \(a ?? "unknown")): "
                + "firmware (IVRS/DMAR) or kernel parameters?"
        }
    }

    /// `0x001d (SV RR CR UF)`.
    static func describe(_ flags: ACSFlags) -> String {
        "0x" + hex(flags.rawValue, width: 4) + " ("
            + (flags.isEmpty ? "none" : flags.shortNames.joined(separator: " ")) + ")"
    }

    static func words(_ words: [String]) -> String { words.isEmpty ? "none" : words.joined(separator: " ") }

    static func short(_ release: String?) -> String {
        guard let release else { return "unknown" }
        return KernelVersion(release: release).map { "\($0.major).\($0.minor)" } ?? release
    }
}

/// A group of A whose member set is not exactly a group of B (or a group of B made only of
/// functions A lacks), matched by members, never by number.
public struct GroupChange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The A group's members are now in two or more B groups.
        case split
        /// Two or more A groups (or parts of them) are now one B group.
        case merged
        /// The group gained or lost members (functions added or removed, or moved in from no group).
        case changed
        /// A B group of functions that are in no A group.
        case appeared
        /// An A group none of whose functions is in a B group.
        case vanished
    }

    public var kind: Kind
    /// The A groups involved, each sorted.
    public var before: [[PCIAddress]]
    /// The B groups they became, each sorted.
    public var after: [[PCIAddress]]
    public var reasons: [GroupChangeReason]
}

/// What changed between two hosts, or one host under two kernels: functions added, removed
/// and replaced; IOMMU groups split, merged or changed, with the reasons config space and the
/// quirk databases give; and per-function changes of driver, ACS words, reset methods, SR-IOV
/// and verdict.
public struct HostDiff: Sendable {
    /// Which groups were compared.
    public enum GroupBasis: String, Sendable {
        /// `kernel/iommu_groups` of both sides.
        case kernel
        /// Groups predicted from config space (a side has no kernel groups: an lspci dump, IOMMU off).
        case predicted
    }

    public let basis: GroupBasis
    public let kernelReleases: (a: String?, b: String?)
    public let added: [FunctionSummary]
    public let removed: [FunctionSummary]
    public let replaced: [FunctionReplacement]
    public let groupChanges: [GroupChange]
    /// Groups of A that are exactly a group of B.
    public let unchangedGroups: Int
    public let functionChanges: [FunctionChange]

    /// diff(1)'s answer: the group partitions differ.
    public var groupsDiffer: Bool { !groupChanges.isEmpty }

    public init(a: HostDiffSide, b: HostDiffSide) {
        let (ma, mb) = (a.model, b.model)
        kernelReleases = (ma.facts.kernelRelease, mb.facts.kernelRelease)
        var added: [FunctionSummary] = []
        var removed: [FunctionSummary] = []
        var replaced: [FunctionReplacement] = []
        var changes: [FunctionChange] = []
        for device in ma.devices {
            guard let other = mb[device.address] else {
                removed.append(FunctionSummary(device))
                continue
            }
            if device.vendorID != other.vendorID || device.deviceID != other.deviceID {
                replaced.append(FunctionReplacement(before: FunctionSummary(device), after: FunctionSummary(other)))
            } else {
                changes += Self.changes(device, other, verdicts: (a.report, b.report))
            }
        }
        for device in mb.devices where ma[device.address] == nil { added.append(FunctionSummary(device)) }
        self.added = added
        self.removed = removed
        self.replaced = replaced
        functionChanges = changes

        let basis: GroupBasis =
            (ma.kernelGroups?.isEmpty == false && mb.kernelGroups?.isEmpty == false) ? .kernel : .predicted
        self.basis = basis
        let (groupsA, groupsB) = (Self.groups(a, basis), Self.groups(b, basis))
        let matched = GroupMatcher(a: groupsA, b: groupsB)
        unchangedGroups = matched.unchanged
        let explainer = ReasonFinder(a: a, b: b, basis: basis)
        groupChanges = matched.changes.map { change in
            var change = change
            change.reasons = explainer.reasons(for: change)
            return change
        }
    }

    static func groups(_ side: HostDiffSide, _ basis: GroupBasis) -> [[PCIAddress]] {
        switch basis {
        case .kernel:
            return (side.model.kernelGroups ?? [:]).values.map { $0.sorted() }.filter { !$0.isEmpty }
                .sorted { $0[0] < $1[0] }
        case .predicted:
            return side.report.prediction.groups
        }
    }

    static func changes(
        _ a: PCIDevice, _ b: PCIDevice, verdicts: (InspectReport, InspectReport)
    ) -> [FunctionChange] {
        var result: [FunctionChange] = []
        func note(_ field: FunctionChange.Field, _ before: String?, _ after: String?) {
            if before != after {
                result.append(FunctionChange(address: a.address, field: field, before: before, after: after))
            }
        }
        note(.driver, a.driver, b.driver)
        note(.acsCapability, a.config.acs.map { describe($0.capability) }, b.config.acs.map { describe($0.capability) })
        note(.acsControl, a.config.acs.map { describe($0.control) }, b.config.acs.map { describe($0.control) })
        note(.multifunction, String(a.isMultifunction), String(b.isMultifunction))
        note(
            .resetMethods, a.resetMethods.map { $0.map(\.rawValue).joined(separator: " ") },
            b.resetMethods.map { $0.map(\.rawValue).joined(separator: " ") })
        note(.sriovNumVFs, a.config.sriov.map { String($0.numVFs) }, b.config.sriov.map { String($0.numVFs) })
        note(.sriovTotalVFs, a.config.sriov.map { String($0.totalVFs) }, b.config.sriov.map { String($0.totalVFs) })
        note(
            .verdict, verdicts.0.verdict(of: a.address)?.rawValue, verdicts.1.verdict(of: b.address)?.rawValue)
        return result
    }

    /// `0x001d SV RR CR UF`.
    public static func describe(_ flags: ACSFlags) -> String {
        (["0x" + hex(flags.rawValue, width: 4)] + flags.shortNames).joined(separator: " ")
    }
}

/// Matches two partitions by members: which A groups are exactly B groups, and how the
/// others split, merged or changed.
struct GroupMatcher {
    var unchanged = 0
    var changes: [GroupChange] = []

    init(a groupsA: [[PCIAddress]], b groupsB: [[PCIAddress]]) {
        var groupOfA: [PCIAddress: Int] = [:]
        for (index, members) in groupsA.enumerated() { for member in members { groupOfA[member] = index } }
        var groupOfB: [PCIAddress: Int] = [:]
        for (index, members) in groupsB.enumerated() { for member in members { groupOfB[member] = index } }
        let setsB = groupsB.map(Set.init)
        var mergedInto: Set<Int> = []
        for members in groupsA {
            let targets = Set(members.compactMap { groupOfB[$0] }).sorted()
            if targets.count == 1, setsB[targets[0]] == Set(members) {
                unchanged += 1
                continue
            }
            if targets.isEmpty {
                changes.append(GroupChange(kind: .vanished, before: [members], after: [], reasons: []))
            } else if targets.count >= 2 {
                changes.append(
                    GroupChange(kind: .split, before: [members], after: targets.map { groupsB[$0] }, reasons: []))
            } else {
                let target = targets[0]
                let sources = Set(groupsB[target].compactMap { groupOfA[$0] }).sorted()
                if sources.count >= 2 {
                    // One entry per B group, listing every A group that went into it.
                    if mergedInto.insert(target).inserted {
                        changes.append(
                            GroupChange(
                                kind: .merged, before: sources.map { groupsA[$0] }, after: [groupsB[target]],
                                reasons: []))
                    }
                } else {
                    changes.append(
                        GroupChange(kind: .changed, before: [members], after: [groupsB[target]], reasons: []))
                }
            }
        }
        for members in groupsB where !members.contains(where: { groupOfA[$0] != nil }) {
            changes.append(GroupChange(kind: .appeared, before: [], after: [members], reasons: []))
        }
    }
}

/// Finds why a group changed: walks the ACS path of every function involved (the function,
/// its slot siblings, the bridges above) on both sides and names what differs.
struct ReasonFinder {
    let a: HostDiffSide
    let b: HostDiffSide
    let basis: HostDiff.GroupBasis

    /// Kernel parameters that change how groups form: the IOMMU switched on or off, the ACS
    /// override, and `pci=` options about ACS (`config_acs=`, `disable_acs_redir=`);
    /// `iommu=pt` and `pci=noaer` do not change groups.
    static func groupParameters(_ facts: HostFacts) -> Set<String> {
        Set(
            facts.commandLineWords.filter { word in
                word.hasPrefix("intel_iommu") || word.hasPrefix("amd_iommu") || word.hasPrefix("pcie_acs_override")
                    || (word.hasPrefix("pci=") && word.contains("acs")) || word == "iommu=off"
            })
    }

    /// The same function on both sides: present at the address with the same vendor:device.
    func sameFunction(_ address: PCIAddress) -> Bool {
        guard let deviceA = a.model[address], let deviceB = b.model[address] else { return false }
        return deviceA.ids == deviceB.ids
    }

    func reasons(for change: GroupChange) -> [GroupChangeReason] {
        let members = Set(change.before.joined()).union(change.after.joined()).sorted()
        var reasons: [GroupChangeReason] = []
        let onlyA = members.filter { a.model[$0] != nil && b.model[$0] == nil }
        let onlyB = members.filter { b.model[$0] != nil && a.model[$0] == nil }
        let replaced = members.filter { a.model[$0] != nil && b.model[$0] != nil && !sameFunction($0) }
        if !onlyA.isEmpty || !onlyB.isEmpty || !replaced.isEmpty {
            reasons.append(.functions(removed: onlyA, added: onlyB, replaced: replaced))
        }
        var examined = Set<PCIAddress>()
        var bridgeReasons: [GroupChangeReason] = []
        for address in members where sameFunction(address) {
            examined.insert(address)
            for model in [a.model, b.model] {
                for sibling in model.slotSiblings(of: address) { examined.insert(sibling.address) }
            }
            // A bridge is the same on both paths only when it is the same function.
            let pathA = a.model.upstreamBridges(of: address).map { ($0.address, $0.ids) }
            let pathB = b.model.upstreamBridges(of: address).map { ($0.address, $0.ids) }
            examined.formUnion(pathA.map(\.0))
            examined.formUnion(pathB.map(\.0))
            for bridge in pathA where !pathB.contains(where: { $0 == bridge }) {
                let reason = GroupChangeReason.bridgeOnlyOn(address: bridge.0, side: .a)
                if !bridgeReasons.contains(reason) { bridgeReasons.append(reason) }
            }
            for bridge in pathB where !pathA.contains(where: { $0 == bridge }) {
                let reason = GroupChangeReason.bridgeOnlyOn(address: bridge.0, side: .b)
                if !bridgeReasons.contains(reason) { bridgeReasons.append(reason) }
            }
        }
        for address in examined.sorted() where sameFunction(address) {
            guard let deviceA = a.model[address], let deviceB = b.model[address] else { continue }
            reasons += Self.deviceReasons(deviceA, deviceB, a.policy, b.policy)
        }
        reasons += bridgeReasons
        // Config space explains a change of the kernel's groups only when the predictions from
        // it change too: a difference that leaves the predicted groups as they were is not why.
        if basis == .kernel, predictionsAgree(on: members) {
            reasons.removeAll { if case .functions = $0 { return false } else { return true } }
        }
        let (releaseA, releaseB) = (a.model.facts.kernelRelease, b.model.facts.kernelRelease)
        let explained = !reasons.isEmpty
        if !explained { reasons.append(.notExplainedByConfigSpace(a: releaseA, b: releaseB)) }
        let (paramsA, paramsB) = (Self.groupParameters(a.model.facts), Self.groupParameters(b.model.facts))
        if paramsA != paramsB {
            reasons.append(
                .kernelParameters(
                    onlyA: paramsA.subtracting(paramsB).sorted(), onlyB: paramsB.subtracting(paramsA).sorted()))
        }
        if explained, releaseA != releaseB { reasons.append(.kernelRelease(a: releaseA, b: releaseB)) }
        return reasons
    }

    /// Whether both sides predict the same partition of `members` (the functions both have).
    func predictionsAgree(on members: [PCIAddress]) -> Bool {
        func partition(_ side: HostDiffSide) -> Set<Set<PCIAddress>> {
            let common = members.filter { a.model[$0] != nil && b.model[$0] != nil }
            let grouped = Dictionary(grouping: common, by: { side.report.prediction.group(of: $0) ?? -1 })
            return Set(grouped.values.map(Set.init))
        }
        return partition(a) == partition(b)
    }

    /// What differs on one function whose ACS answer (isolated or not) differs between the sides.
    static func deviceReasons(
        _ deviceA: PCIDevice, _ deviceB: PCIDevice, _ policyA: ACSPolicy, _ policyB: ACSPolicy
    ) -> [GroupChangeReason] {
        let address = deviceA.address
        var reasons: [GroupChangeReason] = []
        if deviceA.isMultifunction != deviceB.isMultifunction {
            reasons.append(
                .multifunction(address: address, before: deviceA.isMultifunction, after: deviceB.isMultifunction))
        }
        let (answerA, answerB) = (policyA.evaluate(deviceA), policyB.evaluate(deviceB))
        guard answerA.enabled != answerB.enabled else { return reasons }
        let quirkA = answerA.rule.quirkID
        let quirkB = answerB.rule.quirkID
        if quirkA != quirkB {
            if let quirkA {
                reasons.append(.isolationQuirk(id: quirkA, address: address, side: .a, isolated: answerA.enabled))
            }
            if let quirkB {
                reasons.append(.isolationQuirk(id: quirkB, address: address, side: .b, isolated: answerB.enabled))
            }
            return reasons
        }
        let (acsA, acsB) = (deviceA.config.acs, deviceB.config.acs)
        if acsA?.capability != acsB?.capability {
            reasons.append(.acsCapability(address: address, before: acsA?.capability, after: acsB?.capability))
        }
        if let acsA, let acsB, acsA.control != acsB.control {
            reasons.append(.acsControl(address: address, before: acsA.control, after: acsB.control))
        }
        if reasons.isEmpty {
            reasons.append(.acsRule(address: address, before: answerA.rule, after: answerB.rule))
        }
        return reasons
    }
}

extension ACSEvaluation.Rule {
    /// The quirk's id when a quirk answered.
    public var quirkID: String? {
        if case .quirk(let id, _) = self { return id }
        return nil
    }
}
