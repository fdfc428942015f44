import Analysis
import PCIModel
import TestSupport
import Testing

@Suite("Assignability verdicts and their evidence")
struct AssignabilityTests {
    @Test("seed host 82576: caveats, naming the group members and both bridges without ACS")
    func seedNIC() throws {
        let report = InspectReport(model: try SeedHost.model())
        let nic = try #require(report.assessment(of: PCIAddress("04:00.0")!))
        #expect(nic.verdict == .caveats)
        let codes = Set(nic.reasons.map(\.code))
        #expect(
            codes.isSuperset(of: [
                .groupShared, .groupMemberDriver, .acsMissing, .multifunctionNoACS, .groupsPredicted,
            ]))
        let acs = nic.reasons.filter { $0.code == .acsMissing }
        #expect(acs.flatMap(\.related).sorted() == ["0000:00:03.0", "0000:03:02.0"])
        #expect(acs.contains { $0.message.contains("ACS control lacks SV RR CR UF") })
        #expect(acs.contains { $0.message.contains("no ACS capability") })
        // The 82576 has FLR (DevCap): no reset caveat.
        #expect(!codes.contains(.noReset))
        let port = try #require(report.assessment(of: PCIAddress("03:02.0")!))
        #expect(port.verdict == .blocked)
        #expect(port.reasons.first?.code == .bridge)
    }

    @Test("IOMMU off (kernel groups known and empty) blocks every device")
    func iommuOff() {
        let model = Hosts.model(
            [
                Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
                Hosts.device("0000:01:00.0", Hosts.endpoint()),
            ],
            kernelGroups: [:])
        let report = InspectReport(model: model)
        let nic = report.assessment(of: PCIAddress("01:00.0")!)
        #expect(nic?.verdict == .blocked)
        #expect(nic?.reasons.map(\.code).contains(.iommuOff) == true)
        #expect(report.hostChecks.first { $0.code == .iommuEnabled }?.status == .fail)
    }

    @Test("a group holding the root disk is blocked for every member")
    func hostDependency() {
        let devices = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: nil), driver: "pcieport", group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true), driver: "nvme", group: 1),
            Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: true), driver: "vfio-pci", group: 1),
        ]
        let facts = HostFacts(hostDependencies: [
            .init(address: PCIAddress("01:00.0")!, kind: .rootFilesystem, detail: "/ is on /dev/nvme0n1p2")
        ])
        let model = Hosts.model(devices, kernelGroups: [1: devices.map(\.address)], facts: facts)
        let report = InspectReport(model: model)
        let sibling = report.assessment(of: PCIAddress("01:00.1")!)
        #expect(sibling?.verdict == .blocked)
        #expect(sibling?.reasons.first { $0.code == .hostDependency }?.message.contains("/dev/nvme0n1p2") == true)
        #expect(report.verdict(ofGroup: devices.map(\.address)) == .blocked)
    }

    @Test("no FLR, no PM reset and a function beside it on the bus: cannot be reset alone")
    func reset() {
        let devices = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation), group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true, flr: false, noSoftReset: true), group: 2),
            Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: true, flr: true), group: 2),
        ]
        let report = InspectReport(
            model: Hosts.model(
                devices, kernelGroups: [1: [devices[0].address], 2: [devices[1].address, devices[2].address]]))
        let noReset = report.assessment(of: PCIAddress("01:00.0")!)
        #expect(noReset?.reasons.first { $0.code == .noReset }?.message.contains("0000:01:00.1") == true)
        #expect(report.assessment(of: PCIAddress("01:00.1")!)?.reasons.contains { $0.code == .noReset } == false)
        // PM reset without NoSoftRst is enough.
        let pmOnly = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation), group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(flr: false, noSoftReset: false), group: 2),
        ]
        let pmReport = InspectReport(
            model: Hosts.model(pmOnly, kernelGroups: [1: [pmOnly[0].address], 2: [pmOnly[1].address]]))
        #expect(pmReport.assessment(of: PCIAddress("01:00.0")!)?.reasons.contains { $0.code == .noReset } == false)
    }

    @Test("a kernel group that differs from the prediction is reported, naming both")
    func disagreement() {
        let devices = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: nil), group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(), group: 2),
        ]
        // The prediction puts the endpoint with its port (no ACS); this kernel split them,
        // as pcie_acs_override would.
        let report = InspectReport(
            model: Hosts.model(devices, kernelGroups: [1: [devices[0].address], 2: [devices[1].address]]))
        #expect(report.disagreements.map(\.kernelGroup) == [1, 2])
        #expect(report.disagreements.first?.predictedMembers.map(\.description) == ["0000:00:01.0", "0000:01:00.0"])
        #expect(
            report.assessment(of: PCIAddress("01:00.0")!)?.reasons.contains { $0.code == .groupPredictionDiffers }
                == true)
    }

    @Test("a single isolated endpoint with FLR in its own group is assignable")
    func clean() {
        let devices = [
            Hosts.device(
                "0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation), driver: "pcieport", group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(), driver: "vfio-pci", group: 2),
        ]
        let facts = HostFacts(acpiDMARTable: true, vfioPCIAvailability: .loaded)
        let report = InspectReport(
            model: Hosts.model(devices, kernelGroups: [1: [devices[0].address], 2: [devices[1].address]], facts: facts))
        #expect(report.assessment(of: PCIAddress("01:00.0")!)?.verdict == .assignable)
        #expect(report.disagreements.isEmpty)
    }
}
