import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// `bind --driver` with a vfio-pci variant driver on a generated tree. KernelModel plays the
/// VFIO core: a driver in its `vfioDrivers` gets `vfio-dev/vfioN` (and the cdev when the tree
/// has `dev/vfio/devices`); ownership is read from that, never from the driver's name.
@Suite("Binding to vfio-pci variant drivers")
struct VariantBindTests {
    typealias Host = SyntheticActionHost

    func makeHost() throws -> Host { try SyntheticActionHost.make() }

    let nic = PCIAddress("06:00.0")!
    let sibling = PCIAddress("06:00.1")!

    @Test("bind --driver mlx5_vfio_pci: the group is VFIO's once vfio-dev exists; cdev and /dev/vfio/N appear")
    func variantBind() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        try host.addDriver("mlx5_vfio_pci")
        host.kernel.vfioDrivers.insert("mlx5_vfio_pci")
        try FileManager.default.createDirectory(
            atPath: host.directory + "/host/dev/vfio/devices", withIntermediateDirectories: true)
        let model = try host.model()
        let group = try #require(model[nic]?.iommuGroup)
        let session = try host.session()
        var binder = GroupBinder(session: session)
        binder.waitSeconds = 1
        let plan = try binder.plan(group: group, target: "mlx5_vfio_pci", model: model, force: false)
        #expect(plan.changes.map(\.address) == [nic, sibling])
        let outcome = try session.run { _ in try binder.bind(plan) }
        #expect(outcome.vfioDevice == host.directory + "/host/dev/vfio/\(group)")
        let after = try host.model()
        #expect(after[nic]?.vfioOwnership == .vfio(driver: "mlx5_vfio_pci", node: "vfio0"))
        #expect(after[sibling]?.vfioCdevPath == "/dev/vfio/devices/vfio1")
        #expect(after.vfioGroupNodes.contains(group))
        // Already VFIO-owned: a guest's preparation leaves the variant in place ...
        let again = try binder.plan(
            group: group, target: "vfio-pci", model: after, force: false, acceptingVFIOOwned: true)
        #expect(again.changes.isEmpty)
        // ... while an explicit bind to vfio-pci would move them.
        #expect(try binder.plan(group: group, target: "vfio-pci", model: after, force: false).changes.count == 2)
        // Without a binding record, restore releases the functions it finds VFIO-owned (by
        // vfio-dev, whatever the driver's name) from their VFIO driver.
        let record = host.directory + "/state/bindings/group-\(group)"
        #expect(FileManager.default.fileExists(atPath: record))
        try FileManager.default.removeItem(atPath: record)
        let restoring = try host.session()
        _ = try restoring.run { session in try GroupBinder(session: session).restore(group: group, model: after) }
        #expect(host.kernel.driver(of: "0000:06:00.0") != "mlx5_vfio_pci")
        #expect(!host.kernel.hasVFIODevice("0000:06:00.0") && !host.kernel.hasVFIODevice("0000:06:00.1"))
        #expect(!FileManager.default.fileExists(atPath: host.directory + "/host/dev/vfio/devices/vfio0"))
        #expect(!FileManager.default.fileExists(atPath: host.directory + "/host/dev/vfio/\(group)"))
    }

    @Test("bind --driver to a driver that is not VFIO's (no vfio-dev appears): refused and rolled back")
    func notAVFIODriver() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        try host.addDriver("mlx5_core")
        let model = try host.model()
        let group = try #require(model[nic]?.iommuGroup)
        let session = try host.session()
        var binder = GroupBinder(session: session)
        binder.waitSeconds = 0.2
        let plan = try binder.plan(group: group, target: "mlx5_core", model: model, force: false)
        #expect {
            _ = try session.run { _ in try binder.bind(plan) }
        } throws: { error in
            (error as? ActionError)?.code == .failedAndRolledBack && "\(error)".contains("not a VFIO driver")
        }
        #expect(host.kernel.driver(of: "0000:06:00.0") == "e1000e")
        #expect(host.kernel.override(of: "0000:06:00.0") == nil)
        #expect(!FileManager.default.fileExists(atPath: host.directory + "/host/dev/vfio/\(group)"))
    }
}
