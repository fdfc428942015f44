import Foundation
import TestSupport
import Testing

/// Snapshots written inside the real-kernel lab (`make vmlab`, Tests/VMLab/save_snapshots.py):
/// real config space and sysfs from Debian's 6.1 and 6.12 kernels on QEMU 10's amd-iommu and
/// igb (82576) models. They let the unit tests check what the lab found without booting.
@Suite("Snapshots of the lab's real kernels")
struct LabSnapshotTests {
    static func snapshot(_ name: String) -> String { Fixtures.directory + "/snapshots/lab-\(name).tar.gz" }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try Tool.vfioctl(arguments)
        #expect(result.status == 0, "\(result.standardError)")
        return try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
    }

    @Test(
        "AMD-Vi: the unit's EFR is read in each kernel's order (6.1 printed 0:29d3, 6.12 29d3:0)",
        arguments: ["amd-vi-6.1", "amd-vi-6.12"])
    func amdUnit(_ name: String) throws {
        let json = try Self.json(["iommu", "--json", "--snapshot", Self.snapshot(name)])
        let unit = try #require((json["units"] as? [[String: Any]])?.first)
        #expect(unit["name"] as? String == "ivhd0" && unit["kind"] as? String == "amd")
        #expect(unit["capability"] as? String == "1f03000f")
        #expect(unit["extendedCapability"] as? String == "29d3")
        #expect(unit["extendedCapability2"] as? String == "0")
        #expect(unit["features"] as? [String] == ["PreF", "PPR", "GT", "IA", "GA", "HE"])
        #expect(unit["hostPageTableLevels"] as? Int == 6)
        #expect(unit["pageTableFormat"] as? String == "v1")
        #expect((unit["notRead"] as? [String])?.count == 2)
        #expect((unit["largePages"] as? [String: Any])?["available"] as? Bool == true)
        // The unit translates for every function but itself (00:01.0).
        let devices = try #require(unit["devices"] as? [String])
        #expect(devices.count == 14 && !devices.contains("0000:00:01.0"))
    }

    @Test(
        "AMD-Vi: the IOMMU's own function is in no group, predicted in none, and blocked with the reason",
        arguments: ["amd-vi-6.1", "amd-vi-6.12"])
    func amdIOMMUFunction(_ name: String) throws {
        let json = try Self.json(["inspect", "--json", "--snapshot", Self.snapshot(name)])
        #expect((json["groupDisagreements"] as? [Any])?.isEmpty == true)
        let devices = try #require(json["devices"] as? [[String: Any]])
        let iommu = try #require(devices.first { ($0["classCode"] as? String)?.hasPrefix("0806") == true })
        #expect(iommu["address"] as? String == "0000:00:01.0")
        #expect(iommu["iommuGroup"] is NSNull && iommu["predictedGroup"] is NSNull)
        #expect(iommu["verdict"] as? String == "blocked")
        #expect((iommu["reasons"] as? [[String: Any]])?.first?["code"] as? String == "iommu-unit")
        // Predicted groups are the kernel's, member for member.
        func sets(_ key: String) -> Set<Set<String>> {
            Set(((json[key] as? [[String: Any]]) ?? []).map { Set(($0["devices"] as? [String]) ?? []) })
        }
        #expect(sets("groups") == sets("predictedGroups"))
        #expect(sets("groups").count == 7)
    }

    @Test("82576 on igb with 3 VFs per PF: VFs 8086:10ca in their PF's group, reset methods from reset_method")
    func igbVFs() throws {
        let json = try Self.json(["inspect", "--json", "--snapshot", Self.snapshot("igb-sriov-6.12")])
        #expect((json["groupDisagreements"] as? [Any])?.isEmpty == true)
        let devices = try #require(json["devices"] as? [[String: Any]])
        func ids(_ device: [String: Any]) -> String {
            "\(device["vendorId"] as? String ?? ""):\(device["deviceId"] as? String ?? "")"
        }
        let pfs = devices.filter { ids($0) == "8086:10c9" }
        let vfs = devices.filter { ids($0) == "8086:10ca" }
        #expect(
            pfs.map { $0["address"] as? String } == ["0000:03:00.0", "0000:03:00.1", "0000:04:00.0", "0000:04:00.1"])
        #expect(pfs.allSatisfy { ($0["sriov"] as? [String: Any])?["numVFs"] as? Int == 3 })
        // Offset 0x80, stride 2: function 0's VFs at 10.0/10.2/10.4, function 1's at 10.1/10.3/10.5.
        #expect(vfs.count == 12)
        #expect(vfs.allSatisfy { $0["iommuGroup"] as? Int == 1 && $0["predictedGroup"] as? Int == 1 })
        #expect(
            vfs.allSatisfy {
                ($0["reasons"] as? [[String: Any]])?.contains { $0["code"] as? String == "sriov-vf" } == true
            })
        // The kernel fills reset_method when it adds a function: function 0 was still alone on
        // its bus then and lists "bus", function 1 does not (pci_parent_bus_reset() checks
        // again at reset time). vfioctl reports the file as the kernel wrote it.
        let reset = { (address: String) in
            (devices.first { $0["address"] as? String == address }?["reset"] as? [String: Any])
        }
        #expect(reset("0000:03:00.0")?["methods"] as? [String] == ["flr", "pm", "bus"])
        #expect(reset("0000:03:00.1")?["methods"] as? [String] == ["flr", "pm"])
        #expect(reset("0000:03:10.0")?["methods"] as? [String] == ["flr"])
        #expect(reset("0000:03:10.0")?["source"] as? String == "reset_method")
        // The lab's quirks.d stand-in made the seed's reload quirk match on every PF.
        #expect(
            pfs.allSatisfy {
                ($0["quirks"] as? [[String: Any]])?.contains {
                    $0["id"] as? String == "intel-82576-idt-pes12n3a-x58-max-vfs-aer-hang"
                } == true
            })
    }
}
