import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// `vfioctl apply` on a generated tree, the kernel modelled by KernelModel.
@Suite("Desired state")
struct ApplyTests {
    @Test("apply changes what differs, and a second apply changes nothing")
    func idempotent() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        let pool = directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB"
        try FileManager.default.createDirectory(atPath: pool, withIntermediateDirectories: true)
        try "0\n".write(toFile: pool + "/nr_hugepages", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: pool + "/free_hugepages", atomically: true, encoding: .utf8)
        let kernel = try KernelModel(root: directory + "/host")
        func apply(_ desired: DesiredState) throws -> [String] {
            let session = try HostSession(
                roots: HostRoots(path: directory + "/host"), state: ActionState(directory: directory + "/state"),
                action: "apply", dryRun: false)
            session.kernel = kernel
            var applier = DesiredStateApplier(session: session)
            applier.timeoutSeconds = 2
            return try session.run { _ in try applier.apply(desired) }
        }
        var desired = DesiredState()
        desired.hugepages = [.init(sizeKiB: 2048, count: 16, node: nil)]
        desired.sriov = [.init(pf: PCIAddress("03:00.0")!, count: 2, autoprobe: false, bind: nil)]
        desired.bindings = [.init(target: "0000:06:00.0", driver: "vfio-pci")]
        let first = try apply(desired)
        #expect(
            first == [
                "hugepages 2048 KiB on host: 0 → 16", "sriov 0000:03:00.0: 7 → 2 VFs",
                "bind group \(try groupOf("0000:06:00.0", directory)) (0000:06:00.0): 0000:06:00.0 e1000e → vfio-pci, 0000:06:00.1 e1000e → vfio-pci",
            ])
        #expect(kernel.vfs(of: "0000:03:00.0").count == 2)
        let second = try apply(desired)
        #expect(second.allSatisfy { $0.hasSuffix("unchanged") }, "\(second)")
    }

    private func groupOf(_ address: String, _ directory: String) throws -> Int {
        let link = try FileManager.default.destinationOfSymbolicLink(
            atPath: directory + "/host/sys/bus/pci/devices/\(address)/iommu_group")
        return Int((link as NSString).lastPathComponent) ?? -1
    }
}
