import Foundation
import PCIModel
import TestSupport
import Testing

/// `vfioctl inspect` on a tree with a vfio-pci variant driver, group types, the cdev
/// interface and allow_unsafe_interrupts=Y: what the text and `--json` say.
@Suite("inspect: VFIO ownership, group types, interfaces and unsafe interrupts")
struct InspectOwnershipCLITests {
    func tree(in parent: String) throws -> OwnershipTree {
        try OwnershipTree(
            .init(driver: "mlx5_vfio_pci", vfioNode: "vfio3", cdev: true), .init(driver: "mlx5_core"), in: parent
        ) { model in
            model.groupTypes = [1: .dma, 2: .identity]
            model.vfioGroupNodes = []
            model.facts.iommufdDevice = true
            model.facts.vfioContainerDevice = true
            model.facts.allowUnsafeInterrupts = [.type1: true]
            model.facts.iommuUnits = [IOMMUUnit(name: "dmar0", kind: .intel, capability: 0, extendedCapability: 0x8)]
        }
    }

    @Test("--json: vfioOwner, vfioCdev, groups[].type, host.iommufd and the failing unsafe-interrupts check")
    func json() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let tree = try tree(in: parent)
        let result = try Tool.vfioctl(["inspect", "--root", tree.directory, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let devices = try #require(json["devices"] as? [[String: Any]])
        let variant = try #require(devices.first { $0["address"] as? String == "0000:01:00.0" })
        #expect(variant["vfioOwner"] as? String == "mlx5_vfio_pci")
        #expect(variant["vfioCdev"] as? String == "/dev/vfio/devices/vfio3")
        let host = try #require(devices.first { $0["address"] as? String == "0000:01:00.1" })
        #expect(host["vfioOwner"] is NSNull && host["vfioCdev"] is NSNull)
        let groups = try #require(json["groups"] as? [[String: Any]])
        #expect(groups.first { $0["id"] as? Int == 2 }?["type"] as? String == "identity")
        #expect(groups.first { $0["id"] as? Int == 1 }?["type"] as? String == "DMA")
        #expect(groups.first { $0["id"] as? Int == 2 }?["vfioGroupDevice"] is NSNull)
        let hostSection = try #require(json["host"] as? [String: Any])
        #expect(hostSection["iommufd"] as? Bool == true)
        #expect(hostSection["allowUnsafeInterrupts"] as? [String: Bool] == ["vfio_iommu_type1": true])
        let checks = try #require(hostSection["checks"] as? [[String: Any]])
        let unsafe = try #require(checks.first { $0["code"] as? String == "unsafe-interrupts" })
        #expect(unsafe["status"] as? String == "fail")
        #expect((unsafe["message"] as? String)?.contains("interrupt remapping supported by every DMAR unit") == true)
    }

    @Test("text: the group's type, 'VFIO-owned by mlx5_vfio_pci' with its cdev, FAIL unsafe-interrupts")
    func text() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let tree = try tree(in: parent)
        let result = try Tool.vfioctl(["inspect", "--root", tree.directory])
        #expect(result.status == 0, "\(result.standardError)")
        // Words as printed, whatever the wrapping at 100 columns.
        let out = result.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(out.contains("FAIL unsafe-interrupts: allow_unsafe_interrupts=Y on vfio_iommu_type1"))
        #expect(out.contains("vfio-interfaces:") && out.contains("/dev/iommu present"))
        #expect(out.contains("IOMMU group 2 (identity)"))
        #expect(out.contains("VFIO-owned by mlx5_vfio_pci (vfio-dev/vfio3), cdev /dev/vfio/devices/vfio3"))
        #expect(out.contains("group-member-driver") && out.contains("(mlx5_core)"))
    }
}
