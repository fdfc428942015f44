import Analysis
import PCIModel
import TestSupport
import Testing

@Suite("HostDiff: groups matched by members, not numbers")
struct HostDiffTests {
    static func side(_ addresses: [String], groups: [Int: [String]], release: String? = nil) -> HostDiffSide {
        let devices = addresses.map { Hosts.device($0, Hosts.endpoint()) }
        var facts = HostFacts()
        facts.kernelRelease = release
        let model = Hosts.model(
            devices, kernelGroups: groups.mapValues { $0.map { PCIAddress($0)! } }, facts: facts)
        return HostDiffSide(report: InspectReport(model: model), policy: ACSPolicy())
    }

    static func strings(_ groups: [[PCIAddress]]) -> [[String]] { groups.map { $0.map(\.description) } }

    @Test("split, merged, changed, appeared and vanished, whatever the group numbers")
    func kinds() {
        let a = Self.side(
            ["00:01.0", "00:02.0", "00:03.0", "00:05.0", "00:07.0", "00:0a.0", "00:0b.0"],
            groups: [
                0: ["00:01.0"], 1: ["00:02.0", "00:03.0"], 2: ["00:05.0"], 3: ["00:07.0"], 4: ["00:0a.0"],
                5: ["00:0b.0"],
            ],
            release: "6.1.0-57-amd64")
        let b = Self.side(
            ["00:01.0", "00:02.0", "00:03.0", "00:05.0", "00:06.0", "00:08.0", "00:0a.0", "00:0b.0"],
            groups: [
                9: ["00:01.0"], 3: ["00:02.0"], 4: ["00:03.0"], 0: ["00:05.0", "00:06.0"], 1: ["00:08.0"],
                7: ["00:0a.0", "00:0b.0"],
            ],
            release: "6.12.117+deb12-amd64")
        let diff = HostDiff(a: a, b: b)
        #expect(diff.basis == .kernel)
        #expect(diff.unchangedGroups == 1)
        let byKind = Dictionary(grouping: diff.groupChanges, by: \.kind)
        #expect(byKind.keys.count == 5)
        #expect(byKind[.split]?.first.map { Self.strings($0.after) } == [["0000:00:02.0"], ["0000:00:03.0"]])
        #expect(byKind[.merged]?.count == 1)
        #expect(byKind[.merged]?.first.map { Self.strings($0.before) } == [["0000:00:0a.0"], ["0000:00:0b.0"]])
        let changed = byKind[.changed]?.first
        #expect(changed.map { Self.strings($0.after) } == [["0000:00:05.0", "0000:00:06.0"]])
        #expect(changed?.reasons.first == .functions(removed: [], added: [PCIAddress("00:06.0")!], replaced: []))
        #expect(changed?.reasons.last == .kernelRelease(a: "6.1.0-57-amd64", b: "6.12.117+deb12-amd64"))
        #expect(byKind[.vanished]?.first.map { Self.strings($0.before) } == [["0000:00:07.0"]])
        #expect(byKind[.appeared]?.first.map { Self.strings($0.after) } == [["0000:00:08.0"]])
        // The split of identical functions has nothing in config space to show for it.
        #expect(
            byKind[.split]?.first?.reasons == [
                .notExplainedByConfigSpace(a: "6.1.0-57-amd64", b: "6.12.117+deb12-amd64")
            ])
        #expect(diff.groupsDiffer)
        #expect(diff.added.map(\.address.description) == ["0000:00:06.0", "0000:00:08.0"])
        #expect(diff.removed.map(\.address.description) == ["0000:00:07.0"])
    }

    @Test("the same groups under other numbers: no change")
    func renumbered() {
        let a = Self.side(["00:01.0", "00:02.0"], groups: [0: ["00:01.0"], 1: ["00:02.0"]])
        let b = Self.side(["00:01.0", "00:02.0"], groups: [14: ["00:02.0"], 3: ["00:01.0"]])
        let diff = HostDiff(a: a, b: b)
        #expect(!diff.groupsDiffer)
        #expect(diff.unchangedGroups == 2)
    }

    @Test("without kernel groups on one side, the predicted groups are compared")
    func predicted() {
        let a = Self.side(["00:01.0", "00:02.0"], groups: [0: ["00:01.0", "00:02.0"]])
        let devices = ["00:01.0", "00:02.0"].map { Hosts.device($0, Hosts.endpoint()) }
        let model = Hosts.model(devices, kernelGroups: nil)
        let b = HostDiffSide(report: InspectReport(model: model), policy: ACSPolicy())
        let diff = HostDiff(a: a, b: b)
        #expect(diff.basis == .predicted)
        #expect(!diff.groupsDiffer)
    }

    static func predictedSide(_ devices: [PCIDevice]) -> HostDiffSide {
        HostDiffSide(report: InspectReport(model: Hosts.model(devices)), policy: ACSPolicy())
    }

    @Test("function 0 that became multifunction (no ACS) now shares its siblings' group: the reason says so")
    func multifunction() {
        let a = Self.predictedSide([
            Hosts.device("00:02.0", Hosts.endpoint(multifunction: false)),
            Hosts.device("00:02.1", Hosts.endpoint(multifunction: true)),
        ])
        let b = Self.predictedSide([
            Hosts.device("00:02.0", Hosts.endpoint(multifunction: true)),
            Hosts.device("00:02.1", Hosts.endpoint(multifunction: true)),
        ])
        let diff = HostDiff(a: a, b: b)
        #expect(diff.basis == .predicted)
        #expect(diff.groupChanges.map(\.kind) == [.merged])
        let address = PCIAddress("00:02.0")!
        // Multifunction is the whole story: the ACS answer's change (exempt → no capability)
        // follows from it and is not listed again.
        #expect(diff.groupChanges.first?.reasons == [.multifunction(address: address, before: false, after: true)])
        #expect(
            diff.functionChanges.contains {
                $0.address == address && $0.field == .multifunction && $0.before == "false" && $0.after == "true"
            })
    }

    @Test("kernel groups split while the predicted ones did not: a config-space difference is not blamed")
    func notBlamed() {
        // Both sides predict 00:02.0 and 00:03.0 (single-function, one with multifunction set
        // on B but no sibling) as separate groups; the kernel's groups differ anyway.
        func kernelSide(multifunction: Bool, groups: [Int: [String]]) -> HostDiffSide {
            let devices = [
                Hosts.device("00:02.0", Hosts.endpoint(multifunction: multifunction)),
                Hosts.device("00:03.0", Hosts.endpoint()),
            ]
            let model = Hosts.model(devices, kernelGroups: groups.mapValues { $0.map { PCIAddress($0)! } })
            return HostDiffSide(report: InspectReport(model: model), policy: ACSPolicy())
        }
        let a = kernelSide(multifunction: false, groups: [1: ["00:02.0", "00:03.0"]])
        let b = kernelSide(multifunction: true, groups: [1: ["00:02.0"], 2: ["00:03.0"]])
        let diff = HostDiff(a: a, b: b)
        #expect(diff.basis == .kernel)
        #expect(diff.groupChanges.map(\.kind) == [.split])
        let reasons = diff.groupChanges.first?.reasons ?? []
        #expect(!reasons.contains { if case .multifunction = $0 { return true } else { return false } })
        #expect(reasons.contains { if case .notExplainedByConfigSpace = $0 { return true } else { return false } })
    }

    @Test("the NIC moved behind another port: the bridges on one path only are named, with their side")
    func bridges() {
        let enabled: ACSFlags = [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding]
        let a = Self.predictedSide([
            Hosts.device("00:1c.0", Hosts.rootPort(secondary: 1, acs: enabled)),
            Hosts.device("01:00.0", Hosts.endpoint()),
        ])
        let b = Self.predictedSide([
            Hosts.device("00:1d.0", Hosts.rootPort(secondary: 1, acs: nil)),
            Hosts.device("01:00.0", Hosts.endpoint()),
        ])
        let diff = HostDiff(a: a, b: b)
        let changed = diff.groupChanges.first { $0.kind == .changed }
        #expect(changed.map { Self.strings($0.after) } == [["0000:00:1d.0", "0000:01:00.0"]])
        #expect(
            changed?.reasons == [
                .functions(removed: [], added: [PCIAddress("00:1d.0")!], replaced: []),
                .bridgeOnlyOn(address: PCIAddress("00:1c.0")!, side: .a),
                .bridgeOnlyOn(address: PCIAddress("00:1d.0")!, side: .b),
            ])
        #expect(diff.groupChanges.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.changed, .vanished])
    }
}
