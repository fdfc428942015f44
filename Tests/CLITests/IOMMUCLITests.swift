import Foundation
import TestSupport
import Testing

@Suite("vfioctl iommu, hugepages and dma-check from the command line")
struct IOMMUCLITests {
    @Test("iommu --json on the seed host: one DMAR unit, every function behind it, no large pages")
    func seedIOMMU() throws {
        let result = try Tool.vfioctl([
            "iommu", "--json", "--snapshot", Fixtures.directory + "/snapshots/seed-host.tar.gz",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let units = try #require(json["units"] as? [[String: Any]])
        #expect(units.count == 1)
        #expect(units.first?["capability"] as? String == "c90780106f0462")
        #expect((units.first?["devices"] as? [String])?.count == 9)
        #expect((units.first?["superpages"] as? [String]) == [])
        #expect((units.first?["largePages"] as? [String: Any])?["available"] as? Bool == false)
    }

    @Test("bad dma-check arguments are refused before anything is opened")
    func dmaCheckArguments() throws {
        let backing = try Tool.vfioctl(["dma-check", "group:1", "--backing", "3M"])
        #expect(backing.status != 0 && backing.standardError.contains("'4k', '2M' or '1G'"))
        let size = try Tool.vfioctl(["dma-check", "group:1", "--backing", "2M", "--size", "3K"])
        #expect(size.status != 0 && size.standardError.contains("multiple"))
        let target = try Tool.vfioctl(["dma-check", "nonsense", "--root", "/nonexistent"])
        #expect(target.status != 0 && target.standardError.contains("neither DDDD:BB:DD.F nor group:N"))
    }

    @Test("dma-check on a tree without /dev/vfio says what to do")
    func dmaCheckNoVFIO() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/dev", withIntermediateDirectories: true)
        let result = try Tool.vfioctl(["dma-check", "group:7", "--root", directory])
        #expect(result.status != 0)
        #expect(result.standardError.contains("\(directory)/dev/vfio/vfio"))
        #expect(result.standardError.contains("modprobe vfio-pci"))
    }
}
