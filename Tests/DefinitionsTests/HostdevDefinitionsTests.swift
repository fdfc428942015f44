import Analysis
import Definitions
import DomainXML
import GuestCheck
import HostAccess
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// A host as `vfioctl xml` and the hook see it: the report, the quirks, the database.
struct DefinitionHost {
    let model: HostModel
    let database: QuirkDatabase
    let quirks: QuirkEvaluation
    let report: InspectReport

    init(_ model: HostModel) throws {
        self.model = model
        database = try QuirkDatabase.bundled()
        quirks = QuirkEvaluation(database: database, model: model)
        report = InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons)
    }

    /// A bundled snapshot, read as `--snapshot` reads it.
    static func snapshot(_ name: String) throws -> DefinitionHost {
        let opened = try Snapshot.open(Fixtures.directory + "/snapshots/\(name).tar.gz")
        return try DefinitionHost(
            withExtendedLifetime(opened) { try SysfsHostReader(roots: opened.roots).read(source: "snapshot \(name)") })
    }

    func definitions(
        _ target: String, managed: ManagedPolicy = .auto, force: Bool = false, placement: GuestPlacement? = nil
    ) throws -> HostdevDefinitions {
        try HostdevDefinitions(
            report: report, quirks: quirks, target: #require(DeviceTarget(target)), managed: managed, force: force,
            placement: placement)
    }

    /// What the libvirt hook decides for a domain holding `fragment` (GuestAssessment, as
    /// GuestStart runs it).
    func hookAssessment(_ domain: LibvirtDomain) -> GuestAssessment {
        let guestFunctions = Set(domain.hostdevs.map(\.address))
        let quirks = QuirkEvaluation(database: database, model: model, matching: guestFunctions)
        let report = InspectReport(
            model: model, policy: quirks.policy, additionalReasons: quirks.reasons, assessing: guestFunctions)
        return GuestAssessment(
            domain: domain, report: report, quirks: database, policy: quirks.policy, hugepages: nil)
    }
}

/// `fragment` inside a minimal pc domain, as a user pastes `vfioctl xml` output.
func domainXML(_ fragment: String, name: String = "guest", os: String? = nil) -> String {
    let metadata =
        os.map {
            "<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'><libosinfo:os id='\($0)'/></libosinfo:libosinfo></metadata>"
        } ?? ""
    return """
        <domain type='kvm'><name>\(name)</name><memory unit='MiB'>64</memory>\(metadata)
        <os><type arch='x86_64' machine='pc'>hvm</type></os>
        <devices>
        \(fragment)</devices></domain>
        """
}

@Suite("vfioctl xml: <hostdev> elements for a group")
struct HostdevDefinitionsTests {
    /// The seed host's four 82576 functions (Tests/Fixtures/snapshots/seed-host.tar.gz: two
    /// dual-port cards behind an IDT switch without ACS, so one predicted group).
    static let seed82576 = ["0000:04:00.0", "0000:04:00.1", "0000:05:00.0", "0000:05:00.1"].compactMap(PCIAddress.init)

    @Test("seed host: the XML reads back through DomainXML as the 82576 group's four functions, managed")
    func seedRoundTrip() throws {
        let host = try DefinitionHost.snapshot("seed-host")
        for target in ["0000:04:00.0", "05:00.1", "group:1"] {
            let definitions = try host.definitions(target)
            let domain = try LibvirtDomain(xml: domainXML(definitions.xml()))
            #expect(domain.hostdevs.map(\.address) == Self.seed82576, "\(target)")
            #expect(domain.hostdevs.allSatisfy { $0.managed && $0.kind == .hostdev && $0.driver == "vfio" })
            #expect(definitions.group.origin == .predicted(1))
        }
        // The switch ports and the root port above are in the group but stay with the host.
        let xml = try host.definitions("group:1").xml()
        #expect(xml.contains("get no <hostdev>: 0000:00:03.0, 0000:02:00.0, 0000:03:02.0, 0000:03:04.0"))
        #expect(xml.contains("[acs-missing]") && xml.contains("[intel-82576-dual-pf-windows-2008]"))
    }

    @Test("kernel groups: the hostdevs are the group's non-bridge members, as the kernel's links list them")
    func kernelGroup() throws {
        let host = try DefinitionHost.snapshot("lab-amd-vi-6.12")
        let members = try #require(host.model.kernelGroups?[3])
        let definitions = try host.definitions("group:3")
        let domain = try LibvirtDomain(xml: domainXML(definitions.xml()))
        // PCI-to-PCI bridges by class code 06/04 (the root and switch ports above the NVMe and the NIC).
        let bridges = Set(members.filter { (host.model[$0]?.config.classCode ?? 0) >> 8 == 0x0604 })
        #expect(!bridges.isEmpty)
        #expect(domain.hostdevs.map(\.address) == members.filter { !bridges.contains($0) }.sorted())
        #expect(Set(definitions.group.bridges) == bridges)
        #expect(definitions.group.origin == .kernel(3))
        // The same group by one of its functions.
        #expect(try host.definitions("0000:06:00.0").hostdevs == definitions.hostdevs)
    }

    @Test("clear errors: no such group, no such function, a function in no group, a group of bridges only")
    func errors() throws {
        let host = try DefinitionHost.snapshot("lab-amd-vi-6.12")
        func code(_ target: String) -> (DefinitionError.Code, String)? {
            do {
                _ = try host.definitions(target)
                return nil
            } catch let error as DefinitionError {
                return (error.code, error.message)
            } catch {
                return nil
            }
        }
        let missingGroup = try #require(code("group:42"))
        #expect(missingGroup.0 == .noSuchGroup && missingGroup.1.contains("no IOMMU group 42 (its groups: 0-6)"))
        let missingFunction = try #require(code("0000:09:00.0"))
        #expect(missingFunction.0 == .noSuchFunction && missingFunction.1.contains("no PCI function 0000:09:00.0"))
        // The AMD-Vi unit's own function (00:01.0) is in no group.
        let noGroup = try #require(code("00:01.0"))
        #expect(noGroup.0 == .noGroup && noGroup.1.contains("0000:00:01.0 is in no IOMMU group"))
        // Group 1 holds only the root port 00:02.0.
        let bridges = try #require(code("group:1"))
        #expect(bridges.0 == .noEndpoints && bridges.1.contains("holds only bridges (0000:00:02.0)"))
        let seed = try DefinitionHost.snapshot("seed-host")
        let predicted = try #require(
            { () -> DefinitionError? in
                do { _ = try seed.definitions("group:7") } catch let error as DefinitionError { return error } catch {}
                return nil
            }())
        #expect(
            predicted.code == .noSuchGroup && predicted.message.contains("no predicted group p7 (predicted: p0 to p1)"))
    }

    @Test("a kernel without IOMMU groups (IOMMU off): no prediction stands in, the error says how to turn it on")
    func iommuOff() throws {
        let seed = try SeedHost.model()
        let off = try DefinitionHost(
            HostModel(source: "off", devices: seed.devices, kernelGroups: [:], facts: seed.facts))
        for target in ["04:00.0", "group:1"] {
            do {
                _ = try off.definitions(target)
                Issue.record("\(target) was written on a host with the IOMMU off")
            } catch let error as DefinitionError {
                #expect(error.message.contains("the IOMMU is off; boot with intel_iommu=on or amd_iommu=on"))
            }
        }
    }

    @Test("a blocked group is refused with its reasons; --force writes it with them as comments")
    func blocked() throws {
        let seed = try SeedHost.model().withFacts {
            $0.hostDependencies.append(
                HostDependency(
                    address: PCIAddress("0000:05:00.1")!, kind: .defaultRoute,
                    detail: "the default route leaves through enp5s0f1"))
        }
        let host = try DefinitionHost(seed)
        do {
            _ = try host.definitions("04:00.0")
            Issue.record("a blocked group was written")
        } catch let error as DefinitionError {
            #expect(error.code == .blocked)
            #expect(error.message.contains("0000:05:00.1 is what the host runs on"))
            #expect(error.message.contains("enp5s0f1") && error.message.contains("--force"))
        }
        let forced = try host.definitions("04:00.0", force: true)
        #expect(forced.verdict == .blocked)
        let xml = forced.xml()
        #expect(xml.contains("verdict blocked"))
        #expect(
            xml.contains(
                "<!-- blocked 0000:04:00.0, 0000:04:00.1, 0000:05:00.0: [host-dependency] group member 0000:05:00.1 is what the host runs on"
            ))
        #expect(try LibvirtDomain(xml: domainXML(xml)).hostdevs.count == 4)
    }

    @Test("managed: auto gives the hook nothing to refuse; no on host-driver functions is refused by the hook")
    func managedPolicy() throws {
        let host = try DefinitionHost.snapshot("seed-host")
        let unmanagedRefusal = "unmanaged hostdev is bound to host driver igb, not VFIO-owned"
        let auto = try LibvirtDomain(xml: domainXML(host.definitions("04:00.0").xml()))
        #expect(!host.hookAssessment(auto).findings.contains { $0.message.contains("unmanaged") })
        let no = try LibvirtDomain(xml: domainXML(host.definitions("04:00.0", managed: .no).xml()))
        #expect(no.hostdevs.allSatisfy { !$0.managed })
        let refusals = host.hookAssessment(no).findings.filter { $0.level == .refuse }
        let unmanaged = refusals.filter { $0.message.contains(unmanagedRefusal) }
        #expect(unmanaged.flatMap(\.devices) == Self.seed82576)
        #expect(
            try host.definitions("04:00.0", managed: .no).xml().contains("managed='no' but bound to host driver igb"))
        // A function already on vfio-pci (bound at boot): auto leaves it unmanaged, and the hook agrees.
        let bound = try DefinitionHost(
            SeedHost.model().replacing("0000:04:00.1") {
                $0.driver = "vfio-pci"
                $0.vfioDeviceName = "vfio0"
            })
        let mixed = try LibvirtDomain(xml: domainXML(bound.definitions("04:00.0").xml()))
        #expect(mixed.hostdevs.map(\.managed) == [true, false, true, true])
        #expect(!bound.hookAssessment(mixed).findings.contains { $0.message.contains("unmanaged") })
    }

    @Test("a Windows 2008 guest given the generated group is refused by the hook as the hand-written one is")
    func windows2008() throws {
        let host = try DefinitionHost.snapshot("seed-host")
        let generated = try LibvirtDomain(
            xml: domainXML(host.definitions("04:00.0").xml(), os: "http://microsoft.com/win/2k8"))
        let findings = host.hookAssessment(generated).findings.filter { $0.level == .refuse }
        #expect(findings.contains { $0.message.contains("[intel-82576-dual-pf-windows-2008]") })
        // Without the OS the same hostdevs are not refused for it.
        let linux = try LibvirtDomain(xml: domainXML(host.definitions("04:00.0").xml()))
        #expect(!host.hookAssessment(linux).findings.contains { $0.message.contains("dual-pf") })
    }

    @Test("guest placement: one slot per card, multifunction on function 0, a slot for each VF")
    func placement() throws {
        let host = try DefinitionHost.snapshot("seed-host")
        let seed = try LibvirtDomain(
            xml: domainXML(host.definitions("04:00.0", placement: GuestPlacement(bus: 0, firstSlot: 0x10)).xml()))
        #expect(
            seed.hostdevs.compactMap(\.guestSlot).map { [$0.bus, $0.slot, $0.function] } == [
                [0, 0x10, 0], [0, 0x10, 1], [0, 0x11, 0], [0, 0x11, 1],
            ])
        let xml = try host.definitions("04:00.0", placement: GuestPlacement(bus: 0, firstSlot: 0x10)).xml()
        #expect(xml.split(separator: "multifunction='on'").count - 1 == 2)
        #expect(xml.contains("slot='0x10' function='0x0' multifunction='on'"))
        #expect(xml.contains("slot='0x10' function='0x1'/>"))
        // The lab's 82576 PFs with VFs: the PFs share a guest slot, each VF has its own.
        let igb = try DefinitionHost.snapshot("lab-igb-sriov-6.12")
        let sriov = try igb.definitions("group:1", placement: GuestPlacement(bus: 0, firstSlot: 8))
        let vfs = Set(sriov.hostdevs.map(\.address).filter { igb.model[$0]?.physicalFunction != nil })
        #expect(!vfs.isEmpty)
        for hostdev in sriov.hostdevs where vfs.contains(hostdev.address) {
            #expect(hostdev.guestAddress?.function == 0 && hostdev.guestAddress?.multifunction == false)
        }
        let slots = sriov.hostdevs.compactMap { $0.guestAddress.map { "\($0.bus):\($0.slot).\($0.function)" } }
        #expect(Set(slots).count == sriov.hostdevs.count)
        // Too many for the slots left: refused, naming the options.
        #expect(throws: DefinitionError.self) {
            try igb.definitions("group:1", placement: GuestPlacement(bus: 0, firstSlot: 30))
        }
    }
}
