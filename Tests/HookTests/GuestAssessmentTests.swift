import Analysis
import DomainXML
import GuestCheck
import PCIModel
import QuirkDB
import TestSupport
import Testing

@Suite("What the hook refuses, warns about, and lets through")
struct GuestAssessmentTests {
    static let win2k8 = "http://microsoft.com/win/2k8"

    static func xml(
        name: String = "guest", os: String? = nil, machine: String = "pc", arch: String = "x86_64",
        hostdevs: [String], driver: String? = nil, extra: String = "", memoryKiB: Int = 262_144, backing: String = ""
    ) -> String {
        let metadata =
            os.map {
                "<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'><libosinfo:os id='\($0)'/></libosinfo:libosinfo></metadata>"
            } ?? ""
        let devices = hostdevs.map { address -> String in
            let a = PCIAddress(address)!
            let driverElement = driver.map { "<driver name='\($0)'/>" } ?? ""
            return
                "<hostdev mode='subsystem' type='pci' managed='yes'>\(driverElement)<source><address domain='0x\(hex(a.domain, width: 4))' bus='0x\(hex(a.bus, width: 2))' slot='0x\(hex(a.device, width: 2))' function='0x\(a.function)'/></source></hostdev>"
        }.joined(separator: "\n")
        return """
            <domain type='qemu'><name>\(name)</name><memory unit='KiB'>\(memoryKiB)</memory>\(backing)\(metadata)
            <os><type arch='\(arch)' machine='\(machine)'>hvm</type></os>
            <devices>\(devices)\(extra)</devices></domain>
            """
    }

    static func assess(_ xml: String, model: HostModel, others: [String: [PCIAddress]] = [:], free: [Int: Int] = [:])
        throws -> GuestAssessment
    {
        let database = try QuirkDatabase.bundled()
        let policy = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        let report = InspectReport(model: model, policy: policy)
        return GuestAssessment(
            domain: try LibvirtDomain(xml: xml), report: report, quirks: database, policy: policy, otherDomains: others,
            freeHugepages: free)
    }

    /// The seed host with the rest of the IDT group already on vfio-pci, so only the
    /// check under test can refuse.
    static func seedWithGroupOnVFIO() throws -> HostModel {
        ["0000:04:00.0", "0000:04:00.1", "0000:05:00.0", "0000:05:00.1"].reduce(try SeedHost.model()) {
            model, address in
            model.replacing(address) { $0.driver = "vfio-pci" }
        }
    }

    @Test("both PFs of one 82576 to Windows 2008: refused in one line naming both; one PF: accepted")
    func dualPF() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let both = try Self.assess(Self.xml(os: Self.win2k8, hostdevs: ["04:00.0", "04:00.1"]), model: model)
        let refusal = both.findings.filter { $0.level == .refuse }
        #expect(refusal.count == 1)
        #expect(refusal.first?.devices.map(\.description) == ["0000:04:00.0", "0000:04:00.1"])
        #expect(refusal.first?.message.contains("intel-82576-dual-pf-windows-2008") == true)
        let one = try Self.assess(Self.xml(os: Self.win2k8, hostdevs: ["04:00.0", "05:00.0"]), model: model)
        #expect(!one.refused, "\(one.findings)")
        let linux = try Self.assess(
            Self.xml(os: "http://debian.org/debian/12", hostdevs: ["04:00.0", "04:00.1"]), model: model)
        #expect(!linux.refused, "\(linux.findings)")
    }

    @Test("a group member on a host driver, or used by another guest, refuses the start")
    func groupViability() throws {
        let seed = try SeedHost.model()
        let held = try Self.assess(Self.xml(hostdevs: ["04:00.0", "04:00.1"]), model: seed)
        #expect(held.findings.contains { $0.level == .refuse && $0.message.contains("0000:05:00.0 (bound to igb)") })
        let model = try Self.seedWithGroupOnVFIO()
        let taken = try Self.assess(
            Self.xml(hostdevs: ["04:00.0", "04:00.1"]), model: model, others: ["router": [PCIAddress("05:00.0")!]])
        #expect(taken.findings.contains { $0.level == .refuse && $0.message.contains("guest router is using") })
    }

    @Test("a missing device, a duplicate and legacy KVM assignment are refused")
    func wrongDefinitions() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let missing = try Self.assess(Self.xml(hostdevs: ["09:00.0"]), model: model)
        #expect(missing.findings.first?.message.contains("no such PCI function") == true)
        let duplicate = try Self.assess(Self.xml(hostdevs: ["04:00.0", "04:00.0"]), model: model)
        #expect(duplicate.findings.contains { $0.message.contains("twice") })
        let legacy = try Self.assess(Self.xml(hostdevs: ["04:00.0"], driver: "kvm"), model: model)
        #expect(legacy.findings.contains { $0.level == .refuse && $0.message.contains("legacy-kvm-assignment") })
    }

    @Test("a pc guest needing more than 28 slots is refused unless it has a pci-bridge")
    func slotLimit() throws {
        let model = try Self.seedWithGroupOnVFIO()
        // 27 controllers with explicit slots 3…29 plus two hostdevs without an address: 29.
        let addressed = (0..<27).map {
            "<controller type='usb' index='\($0 + 1)'><address type='pci' domain='0x0000' bus='0x00' slot='0x\(hex($0 + 3, width: 2))' function='0x0'/></controller>"
        }
        let crowded = Self.xml(hostdevs: ["04:00.0", "05:00.0"], extra: addressed.joined())
        #expect(
            try Self.assess(crowded, model: model).findings.contains {
                $0.level == .refuse && $0.message.contains("29 PCI slots")
            })
        let bridged = Self.xml(
            hostdevs: ["04:00.0", "05:00.0"],
            extra: addressed.joined() + "<controller type='pci' index='1' model='pci-bridge'/>")
        #expect(!(try Self.assess(bridged, model: model)).refused)
        let q35 = Self.xml(machine: "pc-q35-7.2", hostdevs: ["04:00.0", "05:00.0"], extra: addressed.joined())
        #expect(!(try Self.assess(q35, model: model)).refused)
    }

    @Test("hugepage backing needs free pages of that size")
    func hugepages() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let backing = "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"
        let short = try Self.assess(
            Self.xml(hostdevs: ["04:00.0"], memoryKiB: 262_144, backing: backing), model: model, free: [2048: 100])
        #expect(
            short.findings.contains {
                $0.level == .refuse && $0.message.contains("need 128 free 2M hugepages, the host has 100")
            })
        let enough = try Self.assess(
            Self.xml(hostdevs: ["04:00.0"], memoryKiB: 262_144, backing: backing), model: model, free: [2048: 128])
        #expect(!enough.refused, "\(enough.findings)")
    }

    @Test("an IOMMU with superpages and a guest without hugepages gets the advice")
    func hugepageAdvice() throws {
        let qemu = IOMMUUnit(
            name: "dmar0", kind: .intel, capability: 0xd2_008c_2226_0286, extendedCapability: 0xf0_0f5a)
        let model = try Self.seedWithGroupOnVFIO().withFacts { $0.iommuUnits = [qemu] }
        let advice = try Self.assess(Self.xml(hostdevs: ["04:00.0"]), model: model)
        #expect(
            advice.findings.contains {
                $0.level == .info && $0.message.contains("2M/1G pages: back this guest by hugepages")
            })
    }
}
