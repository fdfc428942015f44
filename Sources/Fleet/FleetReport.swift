import Analysis
import PCIModel

/// `vfioctl report`: many hosts (one snapshot each) grouped by board, and for every device
/// model on a board, where the hosts that have it differ in group layout, ACS on the path,
/// quirks and verdict, with `HostDiff`'s reasons for the group differences.
public struct FleetReport: Sendable {
    /// One host as the report lists it.
    public struct HostSummary: Sendable {
        public var name: String
        /// `FleetHost.file`.
        public var file: String?
        public var board: FleetBoard
        /// `HostModel.source` (the snapshot it came from).
        public var source: String
        public var kernelRelease: String?
        public var functions: Int
        public var basis: HostDiff.GroupBasis
    }

    /// Sorted by name.
    public let hosts: [HostSummary]
    /// Each board with its sorted host names, boards sorted.
    public let boards: [(board: FleetBoard, hosts: [String])]
    /// Sorted by board, then model.
    public let entries: [FleetModelEntry]

    /// Every host given is reported: hosts of one name are renamed apart (`FleetHostNames`),
    /// so comparisons, which name hosts, cannot mix two of them up.
    public init(hosts given: [FleetHost]) {
        var input = given.sorted { ($0.file ?? "", $0.name) < ($1.file ?? "", $1.name) }
        let names = FleetHostNames.unique(input.map { ($0.name, $0.file) })
        for index in input.indices { input[index].name = names[index] }
        let sorted = input.sorted { $0.name < $1.name }
        hosts = sorted.map {
            HostSummary(
                name: $0.name, file: $0.file, board: FleetBoard($0.model), source: $0.model.source,
                kernelRelease: $0.model.facts.kernelRelease, functions: $0.model.devices.count, basis: $0.basis)
        }
        let byBoard = Dictionary(grouping: sorted, by: { FleetBoard($0.model) })
        boards = byBoard.keys.sorted().map { board in (board, byBoard[board, default: []].map(\.name)) }
        var entries: [FleetModelEntry] = []
        for (board, _) in boards {
            entries += Self.entries(board: board, hosts: byBoard[board, default: []])
        }
        self.entries = entries
    }

    /// Entries whose hosts differ.
    public var differing: [FleetModelEntry] { entries.filter(\.differs) }

    // MARK: - Building

    private static func entries(board: FleetBoard, hosts: [FleetHost]) -> [FleetModelEntry] {
        var functions: [DeviceModel: [(host: FleetHost, devices: [PCIDevice])]] = [:]
        for host in hosts {
            let byModel = Dictionary(grouping: host.model.devices.filter(DeviceModel.isCompared), by: DeviceModel.init)
            for (model, devices) in byModel { functions[model, default: []].append((host, devices)) }
        }
        var diffs = DiffCache()
        return functions.keys.sorted().map { model in
            entry(board: board, model: model, present: functions[model, default: []], all: hosts, diffs: &diffs)
        }
    }

    private static func entry(
        board: FleetBoard, model: DeviceModel, present: [(host: FleetHost, devices: [PCIDevice])], all: [FleetHost],
        diffs: inout DiffCache
    ) -> FleetModelEntry {
        let profiles = present.map { item in (item.host, item.devices.map { FunctionProfile($0, on: item.host) }) }
        var comparisons: [FleetComparison] = []
        for aspect in FleetAspect.allCases {
            let settled = settledFunctions(profiles.map(\.1), aspect)
            var variants: [[String]: FleetVariant] = [:]
            var order: [[String]] = []
            for (host, functions) in profiles {
                let shown = functions.filter { !(settled?.contains($0.address) ?? false) }
                let lines = hostValue(shown, aspect, perFunction: settled != nil)
                if variants[lines] == nil {
                    order.append(lines)
                    let detail =
                        aspect == .verdict
                        ? shown.flatMap { function in
                            function.verdictReasons.map { "\(host.name) \(function.address): \($0)" }
                        } : []
                    variants[lines] = FleetVariant(lines: lines, hosts: [], detail: detail)
                }
                variants[lines]?.hosts.append(host.name)
            }
            let list = order.compactMap { variants[$0] }.sorted {
                $0.hosts.count != $1.hosts.count ? $0.hosts.count > $1.hosts.count : $0.hosts[0] < $1.hosts[0]
            }
            comparisons.append(FleetComparison(aspect: aspect, variants: list))
        }
        let names = Set(present.map(\.host.name))
        var result = FleetModelEntry(
            board: board, model: model, name: present.lazy.compactMap { $0.devices.first?.name }.first,
            hosts: present.map { ($0.host.name, $0.devices.map(\.address)) },
            missingOn: all.map(\.name).filter { !names.contains($0) }, comparisons: comparisons, explanations: [])
        result.explanations = explanations(result, present: present, diffs: &diffs)
        return result
    }

    /// A host's value of `aspect`: the one its functions share, else (or when some functions
    /// were left out as settled) one block per function, led by its address.
    private static func hostValue(_ functions: [FunctionProfile], _ aspect: FleetAspect, perFunction: Bool)
        -> [String]
    {
        let values = functions.map { $0.values[aspect] ?? [] }
        if !perFunction, let first = values.first, values.allSatisfy({ $0 == first }) { return first }
        return zip(functions, values).flatMap { function, lines in
            lines.enumerated().map { $0.offset == 0 ? "\(function.address): \($0.element)" : "  " + $0.element }
        }
    }

    /// When some host's functions of the model disagree among themselves (so values are
    /// shown per function): the addresses every host has with the same value, which say
    /// nothing about how the hosts differ and are left out (all of them when the hosts
    /// agree). Nil when every host's functions agree: a host's value is then one value,
    /// whatever the addresses.
    private static func settledFunctions(_ hosts: [[FunctionProfile]], _ aspect: FleetAspect) -> Set<PCIAddress>? {
        let uniform = hosts.allSatisfy { functions in
            functions.allSatisfy { $0.values[aspect] == functions.first?.values[aspect] }
        }
        guard !uniform, let first = hosts.first else { return nil }
        var settled = Set<PCIAddress>()
        for function in first {
            let value = function.values[aspect]
            let everywhere = hosts.dropFirst().allSatisfy { other in
                other.contains { $0.address == function.address && $0.values[aspect] == value }
            }
            if everywhere { settled.insert(function.address) }
        }
        // With one host, or hosts that agree, nothing would be left to show: show it all.
        let agree = settled.count == first.count && hosts.allSatisfy { $0.count == first.count }
        return hosts.count == 1 || agree ? [] : settled
    }

    /// For a model whose group layout or ACS path differs: each host outside the first
    /// variant against the first host of it, through `HostDiff`, keeping the reasons of the
    /// group changes that hold one of the model's functions.
    private static func explanations(
        _ entry: FleetModelEntry, present: [(host: FleetHost, devices: [PCIDevice])], diffs: inout DiffCache
    ) -> [FleetExplanation] {
        let layout = entry.comparisons.first { $0.aspect == .groupLayout }
        let path = entry.comparisons.first { $0.aspect == .upstreamACS }
        guard let basis = [layout, path].compactMap({ $0 }).first(where: \.differs),
            let referenceName = basis.variants.first?.hosts.first,
            let reference = present.first(where: { $0.host.name == referenceName })
        else { return [] }
        var result: [FleetExplanation] = []
        for variant in basis.variants.dropFirst() {
            for name in variant.hosts {
                guard let other = present.first(where: { $0.host.name == name }) else { continue }
                let diff = diffs.diff(reference.host, other.host)
                let addresses = Set(reference.devices.map(\.address)).union(other.devices.map(\.address))
                var reasons: [GroupChangeReason] = []
                for change in diff.groupChanges
                where change.before.joined().contains(where: addresses.contains)
                    || change.after.joined().contains(where: addresses.contains)
                {
                    for reason in change.reasons where !reasons.contains(reason) { reasons.append(reason) }
                }
                if !reasons.isEmpty {
                    result.append(FleetExplanation(host: name, reference: referenceName, reasons: reasons))
                }
            }
        }
        return result
    }
}

/// `HostDiff`s already made, by host names (a board's reference host is compared with each
/// other host once, however many models ask).
private struct DiffCache {
    var made: [String: HostDiff] = [:]

    mutating func diff(_ a: FleetHost, _ b: FleetHost) -> HostDiff {
        let key = a.name + "\u{0}" + b.name
        if let diff = made[key] { return diff }
        let diff = HostDiff(a: a.side, b: b.side)
        made[key] = diff
        return diff
    }
}
