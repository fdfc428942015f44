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
        try assess(xml, model: model, others: others, supply: HugepageSupply(free: free))
    }

    static func assess(_ xml: String, model: HostModel, others: [String: [PCIAddress]] = [:], supply: HugepageSupply?)
        throws -> GuestAssessment
    {
        let database = try QuirkDatabase.bundled()
        let policy = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        let report = InspectReport(model: model, policy: policy)
        return GuestAssessment(
            domain: try LibvirtDomain(xml: xml), report: report, quirks: database, policy: policy, otherDomains: others,
            hugepages: supply)
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

    @Test("the slot limit is the quirk's effect, not its id: any slot-limit entry applies its free-slots")
    func slotLimitEffect() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let quirks = try QuirkDatabase.parse([
            (
                "local.toml",
                """
                [[quirk]]
                id = "tiny-board"
                title = "a board with two free slots"
                effect = "slot-limit"
                free-slots = 2
                advice = "Add a pci-bridge."
                references = ["test"]
                [quirk.match.guest]
                machine = ["pc"]
                """
            )
        ])
        let policy = ACSPolicy(quirk: quirks.acsQuirk(for: model)).memoized(for: model)
        func assess(_ xml: String) throws -> GuestAssessment {
            GuestAssessment(
                domain: try LibvirtDomain(xml: xml), report: InspectReport(model: model, policy: policy),
                quirks: quirks, policy: policy, hugepages: nil)
        }
        let three = try assess(Self.xml(hostdevs: ["04:00.0", "04:00.1", "05:00.0"]))
        #expect(
            three.findings.contains {
                $0.level == .refuse
                    && $0.message.hasPrefix("[tiny-board] the guest needs 3 PCI slots but a pc machine has 2 free.")
            }, "\(three.findings)")
        #expect(!(try assess(Self.xml(hostdevs: ["04:00.0", "05:00.0"]))).refused)
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

    /// libvirt's hugepages-numa example: 1G pages back guest cell 0, 2M pages cell 1.
    static let numaBacking = """
        <memoryBacking><hugepages><page size='1' unit='G' nodeset='0'/><page size='2' unit='M' nodeset='1'/></hugepages></memoryBacking>
        <cpu><numa><cell id='0' cpus='0' memory='2' unit='GiB'/><cell id='1' cpus='1' memory='1' unit='GiB'/></numa></cpu>
        """

    @Test("each page size is checked against its own pool: 2 × 1G for cell 0 and 512 × 2M for cell 1")
    func hugepagesPerSize() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let xml = Self.xml(hostdevs: ["04:00.0"], memoryKiB: 3 << 20, backing: Self.numaBacking)
        let enough = try Self.assess(xml, model: model, free: [1_048_576: 2, 2048: 512])
        #expect(!enough.refused, "\(enough.findings)")
        let short = try Self.assess(
            xml, model: model,
            supply: HugepageSupply(
                hostWide: [1_048_576: .init(total: 4, free: 2), 2048: .init(total: 600, free: 511)]))
        #expect(
            short.findings.map(\.description) == [
                "refuse: the guest's 1024 MiB on NUMA cell 1 need 512 free 2M hugepages, the host has 511; run `vfioctl hugepages reserve --size 2M --count 601` or set hugepages = \"reserve\" in /etc/vfioctl/hook.toml"
            ])
        let no1G = try Self.assess(xml, model: model, free: [2048: 512])
        #expect(
            no1G.findings.map(\.message) == [
                "the guest's 2048 MiB on NUMA cell 0 need 2 free 1G hugepages, the host has 0; the host offers no 1G hugepages"
            ])
        // hugepages = "ignore": no supply to check.
        #expect(!(try Self.assess(xml, model: model, supply: nil)).refused)
    }

    @Test("<numatune> strict: the pages must be free on the bound host nodes, not just somewhere")
    func hugepagesPerHostNode() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let backing = "<memoryBacking><hugepages><page size='2048'/></hugepages></memoryBacking>"
        let strict = Self.xml(
            hostdevs: ["04:00.0"], memoryKiB: 262_144,
            backing: backing + "<numatune><memory mode='strict' nodeset='1'/></numatune>")
        let supply = HugepageSupply(
            hostWide: [2048: .init(total: 300, free: 300)],
            perNode: [2048: [0: .init(total: 200, free: 200), 1: .init(total: 100, free: 100)]])
        let refused = try Self.assess(strict, model: model, supply: supply)
        #expect(
            refused.findings.map(\.message) == [
                "the guest's 256 MiB need 128 free 2M hugepages on host node 1 (<numatune> mode strict), the host has 100 there; run `vfioctl hugepages reserve --size 2M --count 128 --node 1`"
            ])
        let both = Self.xml(
            hostdevs: ["04:00.0"], memoryKiB: 262_144,
            backing: backing + "<numatune><memory mode='strict' nodeset='0-1'/></numatune>")
        #expect(!(try Self.assess(both, model: model, supply: supply)).refused)
        let preferred = Self.xml(
            hostdevs: ["04:00.0"], memoryKiB: 262_144,
            backing: backing + "<numatune><memory mode='preferred' nodeset='1'/></numatune>")
        #expect(!(try Self.assess(preferred, model: model, supply: supply)).refused)
    }

    @Test("a function registered to another running guest is refused, naming that guest")
    func registeredElsewhere() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let taken = try Self.assess(
            Self.xml(hostdevs: ["04:00.0"]), model: model, others: ["router": [PCIAddress("04:00.0")!], "idle": []])
        let refusals = taken.findings.filter { $0.level == .refuse }
        #expect(refusals.map(\.devices) == [[PCIAddress("04:00.0")!]])
        #expect(
            refusals.first?.message.hasPrefix("registered to running guest router; a PCI function goes to one guest")
                == true)
        #expect(!(try Self.assess(Self.xml(hostdevs: ["04:00.0"]), model: model, others: ["idle": []])).refused)
    }

    @Test("non-x86 guests are not judged by the pc slot limit, and are logged; non-PCI hostdevs are logged")
    func nonX86() throws {
        let model = try Self.seedWithGroupOnVFIO()
        let addressed = (0..<27).map {
            "<controller type='usb' index='\($0 + 1)'><address type='pci' domain='0x0000' bus='0x00' slot='0x\(hex($0 + 3, width: 2))' function='0x0'/></controller>"
        }
        let ppc = try Self.assess(
            Self.xml(arch: "ppc64", hostdevs: ["04:00.0", "05:00.0"], extra: addressed.joined()), model: model)
        #expect(!ppc.refused, "\(ppc.findings)")
        #expect(
            ppc.findings.contains {
                $0.level == .info
                    && $0.message.hasPrefix("guest arch ppc64 is not x86: its PCI functions get the host checks only")
            })
        let i686 = try Self.assess(
            Self.xml(arch: "i686", hostdevs: ["04:00.0", "05:00.0"], extra: addressed.joined()), model: model)
        #expect(i686.findings.contains { $0.level == .refuse && $0.message.contains("29 PCI slots") })
        // Host checks still apply to a non-x86 guest's PCI functions.
        let aarch64 = try Self.assess(Self.xml(machine: "virt", arch: "aarch64", hostdevs: ["09:00.0"]), model: model)
        #expect(aarch64.findings.contains { $0.level == .refuse && $0.message.contains("no such PCI function") })
        let usb = try Self.assess(
            Self.xml(
                hostdevs: ["04:00.0"],
                extra:
                    "\n<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>"
            ), model: model)
        #expect(!usb.refused)
        #expect(
            usb.findings.contains {
                $0.level == .info
                    && $0.message == "hostdev type='usb' on line 4 is not a host PCI function: left to libvirt"
            })
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
