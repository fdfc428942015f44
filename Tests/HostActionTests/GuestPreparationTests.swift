import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// The hook's host preparation on a generated tree, the kernel modelled by KernelModel.
@Suite("Preparing the host for a guest")
struct GuestPreparationTests {
    func makeHost() throws -> (String, HostRoots, KernelModel, GuestPreparation) {
        let directory = try Tool.temporaryDirectory()
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        let roots = HostRoots(path: directory + "/host")
        let kernel = try KernelModel(root: directory + "/host")
        let session = try HostSession(
            roots: roots, state: ActionState(directory: directory + "/state"), action: "test", dryRun: false)
        session.kernel = kernel
        var preparation = GuestPreparation(session: session)
        preparation.timeoutSeconds = 2
        return (directory, roots, kernel, preparation)
    }

    @Test("a VF address is placed by First VF Offset and VF Stride")
    func placement() throws {
        let (directory, roots, _, _) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try SysfsHostReader(roots: roots).read(source: "tree")
        let placed = GuestPreparation.vfPlacement(of: PCIAddress("03:00.3")!, in: model)
        #expect(placed?.pf.description == "0000:03:00.0" && placed?.count == 3)
        #expect(GuestPreparation.vfPlacement(of: PCIAddress("7f:00.3")!, in: model) == nil)
    }

    @Test("missing VFs are created for the guest and removed again on undo")
    func createVFs() throws {
        let (directory, roots, kernel, preparation) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pf = PCIAddress("03:00.0")!
        _ = try SRIOVManager(session: preparation.session).set(
            pf, count: 0, autoprobe: nil, force: true, inUseByGuests: [])
        let model = try SysfsHostReader(roots: roots).read(source: "tree")
        let records = try preparation.createVFs(for: [PCIAddress("03:00.2")!], model: model, inUse: [])
        #expect(records == ["sriov 0000:03:00.0 0"])
        #expect(kernel.vfs(of: "0000:03:00.0") == ["0000:03:00.1", "0000:03:00.2"])
        #expect(preparation.undo(records).isEmpty)
        #expect(kernel.vfs(of: "0000:03:00.0").isEmpty)
    }

    @Test("an unmanaged hostdev's group is bound to vfio-pci and restored on undo")
    func bindUnmanaged() throws {
        let (directory, roots, kernel, preparation) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try SysfsHostReader(roots: roots).read(source: "tree")
        let records = try preparation.bindGroups(of: [PCIAddress("06:00.1")!], model: model)
        #expect(records.count == 1 && records[0].hasPrefix("group "))
        #expect(kernel.driver(of: "0000:06:00.0") == "vfio-pci" && kernel.driver(of: "0000:06:00.1") == "vfio-pci")
        #expect(preparation.undo(records).isEmpty)
        #expect(kernel.driver(of: "0000:06:00.0") == "e1000e" && kernel.driver(of: "0000:06:00.1") == "e1000e")
    }
}
