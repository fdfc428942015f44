import Analysis
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// Every shipped non-kernel entry, each with a device that matches (real bytes where the
/// fixtures have them) and a near miss that must not.
@Suite("Shipped quirks: matches and near misses")
struct SeedQuirkTests {
    let database: QuirkDatabase

    init() throws { database = try QuirkDatabase.bundled() }

    @Test("82576 dual PF to one Windows 2008 guest: pending in inspect, decided with the guest")
    func dualPF() throws {
        let model = try SeedHost.model()
        let id = "intel-82576-dual-pf-windows-2008"
        let device = try #require(model[PCIAddress("04:00.0")!])
        let policy = ACSPolicy(quirk: database.acsQuirk(for: model))
        let pending = database.matches(for: device, in: model, policy: policy).first { $0.quirk.id == id }
        #expect(pending?.dependsOnGuest == true)
        let win2k8 = "http://microsoft.com/win/2k8"
        #expect(
            database.ids(at: "0000:04:00.0", in: model, guest: GuestContext(os: win2k8, functionsOfSameDevice: 2))
                .contains(id))
        // Near misses: one function only, or another guest OS.
        #expect(
            !database.ids(at: "0000:04:00.0", in: model, guest: GuestContext(os: win2k8, functionsOfSameDevice: 1))
                .contains(id))
        #expect(
            !database.ids(
                at: "0000:04:00.0", in: model,
                guest: GuestContext(os: "http://microsoft.com/win/10", functionsOfSameDevice: 2)
            ).contains(id))
        // Another NIC (the 82571 id 105e) is not an 82576.
        let other = model.replacing("0000:04:00.0") { $0.deviceID = 0x105e }
        #expect(!other.devices.isEmpty && !database.ids(at: "0000:04:00.0", in: other).contains(id))
    }

    @Test("82576 + IDT PES12N3A rev 0c + X58 root port 3 names the idt-workaround sequence")
    func idtReload() throws {
        let model = try SeedHost.model()
        let id = "intel-82576-idt-pes12n3a-x58-max-vfs-aer-hang"
        #expect(database.ids(at: "0000:05:00.1", in: model).contains(id))
        #expect(database.quirk(id: id)?.effect == .sriovSequence("idt-workaround"))
        // Near misses: the same switch at revision 0d; the same chain under root port 1 (3408);
        // a host booted with pci=noaer (the seed's second workaround).
        let rev0d = ["0000:02:00.0", "0000:03:02.0", "0000:03:04.0"].reduce(model) { host, port in
            host.replacing(port) { $0.config.revision = 0x0d }
        }
        #expect(!database.ids(at: "0000:05:00.1", in: rev0d).contains(id))
        let port1 = model.replacing("0000:00:03.0") { $0.deviceID = 0x3408 }
        #expect(!database.ids(at: "0000:05:00.1", in: port1).contains(id))
        let noAER = model.withFacts { $0.kernelCommandLine = "ro intel_iommu=on pci=noaer" }
        #expect(!database.ids(at: "0000:05:00.1", in: noAER).contains(id))
    }

    @Test("X58 root ports 3408-3411 carry the ACS advice; the X58 host bridge does not")
    func x58RootPorts() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        for port in ["0000:00:01.0", "0000:00:03.0", "0000:00:07.0"] {
            #expect(database.ids(at: port, in: model).contains("intel-x58-root-port-acs"))
        }
        #expect(!database.ids(at: "0000:00:00.0", in: model).contains("intel-x58-root-port-acs"))
    }

    @Test("5520/X58 IOH interrupt-remapping erratum: rev 12 of 3405 matches, rev 22 of 3403 does not")
    func remappingErratum() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        #expect(database.ids(at: "0000:00:00.0", in: model).contains("intel-5520-x58-irq-remapping-erratum"))
        let newer = model.replacing("0000:00:00.0") {
            $0.deviceID = 0x3403
            $0.config.revision = 0x22
        }
        #expect(database.ids(at: "0000:00:00.0", in: newer).filter { $0.hasPrefix("intel-5520") }.isEmpty)
        let rev22 = model.replacing("0000:00:00.0") { $0.config.revision = 0x22 }
        #expect(database.ids(at: "0000:00:00.0", in: rev22).contains("intel-5520-x58-irq-remapping-erratum-3405-rev22"))
    }

    @Test("IDT switch ports warn; the NF200 switch (10de:05b1) does not")
    func idtSwitch() throws {
        let seed = try SeedHost.model()
        #expect(database.ids(at: "0000:03:04.0", in: seed).contains("idt-pes-switch-no-acs"))
        let asus = try Fixtures.model(dump: "tree-asus-p6t6")
        #expect(!database.ids(at: "0000:03:00.0", in: asus).contains("idt-pes-switch-no-acs"))
    }

    @Test("NVIDIA consumer GPU (GeForce 210) warns; its audio function and a Quadro do not")
    func nvidia() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        #expect(database.ids(at: "0000:06:00.0", in: model).contains("nvidia-consumer-gpu"))
        #expect(!database.ids(at: "0000:06:00.1", in: model).contains("nvidia-consumer-gpu"))
        let quadro = model.replacing("0000:06:00.0") { $0.name = "NVIDIA Corporation GF100GL [Quadro 4000]" }
        #expect(!database.ids(at: "0000:06:00.0", in: quadro).contains("nvidia-consumer-gpu"))
    }

    @Test("32-bit Windows 2008 on an AMD host with an MSI device warns; Intel hosts and 64-bit guests do not")
    func windowsAMD() throws {
        let amd = try SeedHost.model().withFacts { $0.cpuVendor = "AuthenticAMD" }
        let id = "windows-2008-32bit-amd-msi"
        let guest = GuestContext(os: "http://microsoft.com/win/2k8", arch: "i686")
        #expect(database.ids(at: "0000:04:00.0", in: amd, guest: guest).contains(id))
        #expect(
            !database.ids(
                at: "0000:04:00.0", in: amd, guest: GuestContext(os: "http://microsoft.com/win/2k8", arch: "x86_64")
            ).contains(id))
        let intel = amd.withFacts { $0.cpuVendor = "GenuineIntel" }
        #expect(!database.ids(at: "0000:04:00.0", in: intel, guest: guest).contains(id))
        // A function without MSI or MSI-X is a near miss too.
        let noMSI = Hosts.model(
            [
                Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
                Hosts.device("0000:01:00.0", Hosts.endpoint()),
            ],
            facts: HostFacts(cpuVendor: "AuthenticAMD"))
        #expect(!database.ids(at: "0000:01:00.0", in: noMSI, guest: guest).contains(id))
    }

    @Test("relaxed_acs_check advice below bridges without ACS, not below an isolated path")
    func relaxedACS() throws {
        let seed = try SeedHost.model()
        #expect(database.ids(at: "0000:04:00.0", in: seed).contains("libvirt-relaxed-acs-check"))
        let devices = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", Hosts.endpoint()),
        ]
        #expect(!database.ids(at: "0000:01:00.0", in: Hosts.model(devices)).contains("libvirt-relaxed-acs-check"))
    }

    @Test("guest-scoped: pc slot limits for i440FX, not q35; legacy KVM assignment refused")
    func guestScoped() throws {
        let model = try SeedHost.model()
        #expect(
            database.guestQuirks(for: GuestContext(machine: "pc-i440fx-7.2"), in: model).map(\.id) == [
                "pc-machine-slot-limit"
            ])
        #expect(
            database.guestQuirks(for: GuestContext(machine: "pc"), in: model).map(\.effect) == [
                .slotLimit(freeSlots: 28)
            ])
        #expect(database.guestQuirks(for: GuestContext(machine: "pc-q35-7.2"), in: model).isEmpty)
        let legacy = database.guestQuirks(for: GuestContext(machine: "q35", hostdevDriver: "kvm"), in: model)
        #expect(legacy.map(\.id) == ["legacy-kvm-assignment"])
        #expect(legacy.first?.effect == .block)
        #expect(database.guestQuirks(for: GuestContext(machine: "q35", hostdevDriver: "vfio"), in: model).isEmpty)
    }
}
