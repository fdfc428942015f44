import Analysis
import DomainXML
import GuestCheck
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// The hook's ownership test is VFIOOwnership (vfio-dev/vfioN), not the driver's name: an
/// unmanaged hostdev on a vfio-pci variant driver is ready; on the host driver it is not.
@Suite("The hook and vfio-pci variant drivers")
struct HookOwnershipTests {
    static func model(first: (String?, String?), second: (String?, String?)) -> HostModel {
        var devices = [
            Hosts.device(
                "0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation), driver: "pcieport", group: 1),
            Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true), driver: first.0, group: 2),
            Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: true), driver: second.0, group: 2),
        ]
        devices[1].vfioDeviceName = first.1
        devices[2].vfioDeviceName = second.1
        return Hosts.model(
            devices, kernelGroups: [1: [devices[0].address], 2: [devices[1].address, devices[2].address]])
    }

    static func assess(_ model: HostModel, managed: Bool) throws -> GuestAssessment {
        let xml = """
            <domain type='kvm'><name>g</name><memory unit='KiB'>262144</memory>
            <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
            <hostdev mode='subsystem' type='pci' managed='\(managed ? "yes" : "no")'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>
            </devices></domain>
            """
        let database = try QuirkDatabase.bundled()
        let policy = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        return GuestAssessment(
            domain: try LibvirtDomain(xml: xml), report: InspectReport(model: model, policy: policy), quirks: database,
            policy: policy, otherDomains: [:], hugepages: nil)
    }

    @Test("unmanaged on mlx5_vfio_pci with vfio-dev, sibling on pci-stub: not refused")
    func variantReady() throws {
        let model = Self.model(first: ("mlx5_vfio_pci", "vfio2"), second: ("pci-stub", nil))
        let assessment = try Self.assess(model, managed: false)
        #expect(!assessment.refused, "\(assessment.findings)")
    }

    @Test("unmanaged on mlx5_core, or unbound: refused, saying it is not VFIO-owned")
    func hostDriverRefused() throws {
        for first in [("mlx5_core", nil), (nil, nil), ("mlx5_vfio_pci", nil)] as [(String?, String?)] {
            let model = Self.model(first: first, second: ("vfio-pci", "vfio0"))
            let assessment = try Self.assess(model, managed: false)
            #expect(
                assessment.findings.contains { $0.level == .refuse && $0.message.contains("not VFIO-owned") },
                "\(first): \(assessment.findings)")
        }
    }

    @Test("a group sibling on a variant driver does not hold the group; on its host driver it does")
    func siblings() throws {
        let owned = Self.model(first: ("vfio-pci", "vfio0"), second: ("mlx5_vfio_pci", "vfio1"))
        #expect(
            !(try Self.assess(owned, managed: true)).findings.contains { $0.message.contains("shares its IOMMU group") }
        )
        let held = Self.model(first: ("vfio-pci", "vfio0"), second: ("mlx5_core", nil))
        #expect(
            try Self.assess(held, managed: true).findings.contains {
                $0.level == .refuse && $0.message.contains("0000:01:00.1 (bound to mlx5_core)")
            })
    }
}
