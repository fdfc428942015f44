import Analysis
import DomainXML
import GuestCheck
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// A guest function whose only reset is a bus reset that also reaches the host's or another
/// guest's functions (BusResetHost: 01:00.0 lists only "bus", 01:00.1 shares its bus).
@Suite("The hook and bus resets that reach other functions")
struct BusResetHookTests {
    static func assess(
        _ model: HostModel, hostdevs: [String] = ["01:00.0"], others: [String: [PCIAddress]] = [:],
        policy: BusResetPolicy = .refuse
    ) throws -> GuestAssessment {
        let database = try QuirkDatabase.bundled()
        let acs = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        let xml = GuestAssessmentTests.xml(machine: "q35", hostdevs: hostdevs)
        return GuestAssessment(
            domain: try LibvirtDomain(xml: xml), report: InspectReport(model: model, policy: acs), quirks: database,
            policy: acs, otherDomains: others, hugepages: nil, busReset: policy)
    }

    static func busFinding(_ assessment: GuestAssessment) -> HookFinding? {
        assessment.findings.first { $0.message.contains("its only reset is a secondary bus reset") }
    }

    @Test("a bus-mate on a host driver: refused by default, naming it and its driver")
    func hostDriver() throws {
        let assessment = try Self.assess(BusResetHost.model())
        let finding = try #require(Self.busFinding(assessment))
        #expect(finding.level == .refuse && assessment.refused)
        #expect(finding.devices == [BusResetHost.busOnly])
        #expect(finding.message.contains("0000:00:1c.0, which also resets 0000:01:00.1 (bound to host driver e1000e)"))
        #expect(finding.message.contains("bus-reset = \"warn\""))
    }

    @Test("policy warn: the same finding as a warning, the start goes ahead")
    func warnPolicy() throws {
        let assessment = try Self.assess(BusResetHost.model(), policy: .warn)
        let finding = try #require(Self.busFinding(assessment))
        #expect(finding.level == .warn)
        #expect(!assessment.refused, "\(assessment.findings)")
    }

    @Test("a bus-mate registered to another running guest: refused, naming the guest")
    func otherGuest() throws {
        let model = BusResetHost.model(siblingDriver: "vfio-pci")
        let assessment = try Self.assess(model, others: ["vm2": [BusResetHost.sibling]])
        let finding = try #require(Self.busFinding(assessment))
        #expect(finding.level == .refuse)
        #expect(finding.message.contains("0000:01:00.1 (used by running guest vm2)"))
    }

    @Test("a host dependency on the bus: refused, saying what the host uses it for")
    func hostDependency() throws {
        let model = BusResetHost.model(siblingDriver: "nvme").withFacts {
            $0.hostDependencies = [
                HostDependency(address: BusResetHost.sibling, kind: .rootFilesystem, detail: "/ on /dev/nvme0n1p2")
            ]
        }
        let finding = try #require(Self.busFinding(try Self.assess(model)))
        #expect(finding.message.contains("the host depends on it: / on /dev/nvme0n1p2"))
    }

    @Test("near misses: bus-mate idle on vfio-pci, given to the same guest, or the function has FLR")
    func nearMisses() throws {
        #expect(Self.busFinding(try Self.assess(BusResetHost.model(siblingDriver: "vfio-pci"))) == nil)
        #expect(Self.busFinding(try Self.assess(BusResetHost.model(siblingDriver: nil))) == nil)
        #expect(Self.busFinding(try Self.assess(BusResetHost.model(), hostdevs: ["01:00.0", "01:00.1"])) == nil)
        #expect(Self.busFinding(try Self.assess(BusResetHost.model(busOnlyMethods: [.flr, .bus]))) == nil)
    }
}
