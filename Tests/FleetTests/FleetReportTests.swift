import Analysis
import Fleet
import HostAccess
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// The fleet comparison over the real AMD-Vi lab host (Tests/Fixtures/snapshots/
/// lab-amd-vi-6.1.tar.gz: two root ports with ACS on, a NIC below each, a switch with a
/// third NIC and an NVMe) and variants of it that each change one thing.
struct FleetReportTests {
    static let labSnapshot = Fixtures.directory + "/snapshots/lab-amd-vi-6.1.tar.gz"
    static let port = PCIAddress("0000:00:02.0")!
    static let nicBelowPort = PCIAddress("0000:01:00.0")!

    static func lab() throws -> HostModel {
        let opened = try Snapshot.open(labSnapshot)
        return try withExtendedLifetime(opened) { try SysfsHostReader(roots: opened.roots).read(source: "lab") }
    }

    /// The lab host as it would be with the root port's ACS control cleared: the kernel then
    /// puts the NIC below it into the port's group.
    static func acsOff(_ model: HostModel) -> HostModel {
        var changed = model.replacing(port.description) { $0.config.acs?.control = [] }
        var groups = model.kernelGroups ?? [:]
        let portGroup = groups.first { $0.value.contains(port) }!.key
        for key in groups.keys { groups[key]?.removeAll { $0 == nicBelowPort } }
        groups[portGroup, default: []].append(nicBelowPort)
        changed.kernelGroups = groups.filter { !$0.value.isEmpty }
        return changed
    }

    static func host(_ name: String, _ model: HostModel, localQuirks: String? = nil) throws -> FleetHost {
        var database = try QuirkDatabase.bundled()
        if let localQuirks {
            database = database.extended(with: try QuirkDatabase.parse([(name: "site.toml", text: localQuirks)]))
        }
        let quirks = QuirkEvaluation(database: database, model: model)
        let report = InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons)
        return FleetHost(name: name, report: report, quirks: quirks)
    }

    @Test func identicalHostsDifferNowhere() throws {
        let lab = try Self.lab()
        let report = FleetReport(hosts: [try Self.host("b", lab), try Self.host("a", lab)])
        #expect(report.hosts.map(\.name) == ["a", "b"])
        #expect(report.boards.count == 1)
        #expect(report.differing.isEmpty)
        // Every compared function of the host is in some entry, and no bridge is.
        let compared = Set(report.entries.flatMap { $0.hosts.first { $0.name == "a" }?.functions ?? [] })
        #expect(compared == Set(lab.devices.filter(DeviceModel.isCompared).map(\.address)))
        #expect(!compared.contains(Self.port))
        #expect(compared.contains(Self.nicBelowPort))
    }

    @Test func findsExactlyTheChangesMade() throws {
        let lab = try Self.lab()
        let report = FleetReport(hosts: [
            try Self.host("alpha", lab), try Self.host("bravo", lab), try Self.host("charlie", Self.acsOff(lab)),
            try Self.host("delta", lab, localQuirks: TestQuirks.qemuNVMeNote),
        ])
        #expect(report.boards.count == 1)
        let differing = report.differing
        #expect(differing.map(\.model.ids) == ["1b36:0010", "8086:10d3"])

        let nic = try #require(differing.first { $0.model.ids == "8086:10d3" })
        let byAspect = Dictionary(uniqueKeysWithValues: nic.comparisons.map { ($0.aspect, $0) })
        for aspect in [FleetAspect.groupLayout, .upstreamACS] {
            let variants = try #require(byAspect[aspect]).variants
            #expect(variants.map(\.hosts) == [["alpha", "bravo", "delta"], ["charlie"]], "\(aspect)")
        }
        // A consequence, not a change of its own: libvirt's relaxed ACS check quirk matches
        // functions whose path lacks ACS, which the NIC below the port now is.
        let quirkVariants = try #require(byAspect[.quirks]).variants
        #expect(quirkVariants.map(\.hosts) == [["alpha", "bravo", "delta"], ["charlie"]])
        #expect(
            quirkVariants.first?.lines.contains {
                $0.hasPrefix("0000:01:00.0:") && $0.contains("libvirt-relaxed-acs-check")
            } == false)
        #expect(
            quirkVariants.last?.lines.contains {
                $0.hasPrefix("0000:01:00.0:") && $0.contains("libvirt-relaxed-acs-check")
            } == true)
        // charlie's NIC below the port shares its group with the port (1b36:000c, a bridge).
        let charlieLayout = try #require(byAspect[.groupLayout]?.variants.last?.lines)
        #expect(charlieLayout.contains { $0.hasPrefix("0000:01:00.0: shared with 1") })
        #expect(charlieLayout.contains("    1b36:000c (class 0604)"))
        let charlieACS = try #require(byAspect[.upstreamACS]?.variants.last?.lines)
        #expect(charlieACS.contains { $0.contains("1b36:000c root-port") && $0.contains("ctl 0x0000;") })
        // Why, as `vfioctl diff alpha charlie` says it: the port's control word.
        #expect(nic.explanations.map(\.host) == ["charlie"])
        #expect(nic.explanations.first?.reference == "alpha")
        let reasons = nic.explanations.first?.reasons ?? []
        #expect(
            reasons.contains {
                if case .acsControl(let address, _, let after) = $0 { return address == Self.port && after.isEmpty }
                return false
            })

        let nvme = try #require(differing.first { $0.model.ids == "1b36:0010" })
        let quirks = try #require(nvme.comparisons.first { $0.aspect == .quirks })
        #expect(quirks.variants.map(\.hosts) == [["alpha", "bravo", "charlie"], ["delta"]])
        // The site's quirk is the only difference: the bundled ones match everywhere.
        let (common, withSite) = (quirks.variants[0].lines, quirks.variants[1].lines)
        #expect(common.count == 1 && withSite.count == 1)
        #expect(!common[0].contains("site-qemu-nvme-note"))
        #expect(
            withSite[0].split(separator: " ").filter { $0 != "site-qemu-nvme-note" } == common[0].split(separator: " "))
        #expect(nvme.comparisons.first { $0.aspect == .groupLayout }?.differs == false)
        #expect(nvme.comparisons.first { $0.aspect == .upstreamACS }?.differs == false)
        #expect(nvme.explanations.isEmpty)
    }

    @Test func hostsOfOtherBoardsAreNotCompared() throws {
        let lab = try Self.lab()
        let other = lab.withFacts {
            $0.board = DMIBoard(vendor: "Other Vendor", name: "X1", product: nil)
        }
        let report = FleetReport(hosts: [try Self.host("a", lab), try Self.host("b", Self.acsOff(other))])
        #expect(report.boards.count == 2)
        #expect(report.boards.map(\.hosts) == [["b"], ["a"]] || report.boards.map(\.hosts) == [["a"], ["b"]])
        // Each board has one host, so nothing can differ, though b's layout is another.
        #expect(report.differing.isEmpty)
        let boards = Set(report.hosts.map(\.board))
        #expect(boards.contains(.dmi(DMIBoard(vendor: "Other Vendor", name: "X1", product: nil))))
        #expect(boards.contains { if case .chipset(let ids) = $0 { ids.contains("8086:29c0") } else { false } })
    }

    @Test func aModelMissingOnAHostOfTheBoardIsNamed() throws {
        let lab = try Self.lab()
        let nvme = PCIAddress("0000:06:00.0")!
        let without = HostModel(
            source: "lab", devices: lab.devices.filter { $0.address != nvme },
            kernelGroups: lab.kernelGroups?.mapValues { $0.filter { $0 != nvme } }, facts: lab.facts)
        let report = FleetReport(hosts: [try Self.host("a", lab), try Self.host("b", without)])
        // The NVMe is missing on b, and the NIC that shared its group behind the switch
        // (05:00.0) has one companion fewer there: nothing else differs.
        #expect(report.differing.map(\.model.ids) == ["1b36:0010", "8086:10d3"])
        #expect(report.differing.first?.missingOn == ["b"])
        #expect(report.differing.first?.hosts.map(\.name) == ["a"])
        let nic = try #require(report.differing.last)
        #expect(nic.missingOn.isEmpty)
        #expect(nic.comparisons.filter(\.differs).map(\.aspect) == [.groupLayout, .verdict])
        // Behind the switch 05:00.0 no longer shares its group with another endpoint.
        let verdicts = nic.comparisons[3].variants
        #expect(verdicts.map(\.hosts) == [["a"], ["b"]])
        #expect(verdicts[0].lines.last == "0000:05:00.0: caveats: acs-missing, group-shared")
        #expect(verdicts[1].lines.last == "0000:05:00.0: caveats: acs-missing")
        #expect(!verdicts[0].detail.isEmpty && verdicts[0].detail.allSatisfy { $0.hasPrefix("a 0000:05:00.0: ") })
        let layouts = nic.comparisons[0].variants
        #expect(layouts.first { $0.hosts == ["a"] }?.lines.contains("    1b36:0010 (class 0108)") == true)
        #expect(layouts.first { $0.hosts == ["b"] }?.lines.contains("0000:05:00.0: shared with 4:") == true)
    }

    @Test func hostNamesAreUniqueByConstruction() throws {
        let lab = try Self.lab()
        func host(_ name: String, _ file: String, _ model: HostModel) throws -> FleetHost {
            let quirks = QuirkEvaluation(database: try QuirkDatabase.bundled(), model: model)
            let report = InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons)
            return FleetHost(name: name, file: file, report: report, quirks: quirks)
        }
        let report = FleetReport(hosts: [
            try host("node1 (h1.tar.gz)", "h3.tar.gz", lab), try host("node1", "h1.tar.gz", lab),
            try host("node1", "h2.tar.gz", Self.acsOff(lab)),
        ])
        let names = report.hosts.map(\.name)
        #expect(Set(names).count == 3, "\(names)")
        #expect(Set(report.hosts.compactMap(\.file)) == ["h1.tar.gz", "h2.tar.gz", "h3.tar.gz"])
        let changed = try #require(report.hosts.first { $0.file == "h2.tar.gz" }?.name)
        let nic = try #require(report.differing.first { $0.model.ids == "8086:10d3" })
        #expect(nic.comparisons.first { $0.aspect == .groupLayout }?.variants.last?.hosts == [changed])
        #expect(nic.explanations.map(\.host) == [changed])
    }

    @Test func boardsOfDifferentDMIStringsReadDifferently() throws {
        let lab = try Self.lab()
        let a = lab.withFacts { $0.board = DMIBoard(vendor: "ACME Big", name: "Board", product: nil) }
        let b = lab.withFacts { $0.board = DMIBoard(vendor: "ACME", name: "Big Board", product: nil) }
        let report = FleetReport(hosts: [try Self.host("a", a), try Self.host("b", b)])
        #expect(report.boards.count == 2)
        let descriptions = report.boards.map(\.board.description)
        #expect(Set(descriptions).count == 2, "\(descriptions)")
        #expect(descriptions.contains("vendor \"ACME Big\", board \"Board\""))
    }

    @Test func predictedGroupsOfTheSameShapeDoNotDiffer() throws {
        let lab = try Self.lab()
        var predicted = lab
        predicted.kernelGroups = nil
        let report = FleetReport(hosts: [try Self.host("kernel", lab), try Self.host("guess", predicted)])
        #expect(report.hosts.map(\.basis) == [.predicted, .kernel])
        // The lab's kernel groups are what vfioctl predicts for it: the same shapes.
        #expect(
            report.differing.flatMap { $0.comparisons.filter(\.differs).map(\.aspect) }.contains(.groupLayout) == false)
    }
}
