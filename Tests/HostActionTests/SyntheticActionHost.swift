import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// A generated 64-function host tree (`vfioctl-hostgen synthetic`), the kernel modelled by
/// KernelModel, and a state directory: what the binding tests act on. Group of 0000:06:00.0
/// is the two-function e1000e.
struct SyntheticActionHost {
    let directory: String
    let roots: HostRoots
    let kernel: KernelModel
    let state: ActionState

    static func make() throws -> SyntheticActionHost {
        let directory = try Tool.temporaryDirectory()
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        return SyntheticActionHost(
            directory: directory, roots: HostRoots(path: directory + "/host"),
            kernel: try KernelModel(root: directory + "/host"), state: ActionState(directory: directory + "/state"))
    }

    func model() throws -> HostModel { try SysfsHostReader(roots: roots).read(source: "tree") }

    func session(_ action: String = "test", dryRun: Bool = false) throws -> HostSession {
        let session = try HostSession(roots: roots, state: state, action: action, dryRun: dryRun)
        session.kernel = kernel
        return session
    }

    var journals: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: state.journalDirectoryPath)) ?? []
    }

    func driver(_ address: String) -> String? { kernel.driver(of: address) }

    /// Adds a driver to the tree's bus/pci/drivers, as loading its module would.
    func addDriver(_ name: String) throws {
        let base = directory + "/host/sys/bus/pci/drivers/\(name)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        for file in ["bind", "unbind"] {
            _ = FileManager.default.createFile(atPath: base + "/" + file, contents: nil)
        }
    }
}
