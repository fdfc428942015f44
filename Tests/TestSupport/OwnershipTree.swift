import Foundation
import HostAccess
import PCIModel
import SystemPackage

/// A small host written as a sysfs tree (SysfsTreeWriter) for the VFIO-ownership rules: a
/// root port (group 1, pcieport) above a two-function endpoint (group 2) whose functions'
/// drivers and `vfio-dev/` nodes a test chooses, and the host-wide files around them.
public struct OwnershipTree {
    public struct Function: Sendable {
        public var driver: String?
        public var vfioNode: String?
        public var cdev: Bool
        public init(driver: String?, vfioNode: String? = nil, cdev: Bool = false) {
            self.driver = driver
            self.vfioNode = vfioNode
            self.cdev = cdev
        }
    }

    public let directory: String
    public var roots: HostRoots { HostRoots(path: directory) }

    public static let first = PCIAddress("0000:01:00.0")!
    public static let second = PCIAddress("0000:01:00.1")!

    /// Writes the tree; `change` adjusts the model (group types, facts) before it is written.
    public init(
        _ first: Function, _ second: Function, in parent: String, change: (inout HostModel) -> Void = { _ in }
    ) throws {
        let port = Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)
        let endpoint = Hosts.endpoint(multifunction: true)
        var devices = [
            Hosts.device("0000:00:01.0", port, driver: "pcieport", group: 1),
            Hosts.device("0000:01:00.0", endpoint, driver: first.driver, group: 2),
            Hosts.device("0000:01:00.1", endpoint, driver: second.driver, group: 2),
        ]
        devices[1].vfioDeviceName = first.vfioNode
        devices[1].hasVFIOCdev = first.cdev
        devices[2].vfioDeviceName = second.vfioNode
        devices[2].hasVFIOCdev = second.cdev
        HostModel.assignParentsFromBusRanges(&devices)
        var model = HostModel(
            source: "ownership tree", devices: devices,
            kernelGroups: [1: [devices[0].address], 2: [devices[1].address, devices[2].address]],
            facts: HostFacts(vfioPCIAvailability: .loaded),
            configBytes: [
                devices[0].address: port.bytes, devices[1].address: endpoint.bytes, devices[2].address: endpoint.bytes,
            ])
        change(&model)
        directory = parent + "/host"
        try SysfsTreeWriter(base: FilePath(directory)).write(model)
    }

    public func read() throws -> HostModel { try SysfsHostReader(roots: roots).read(source: "ownership tree") }

    /// Replaces whatever is at `relative` (below the tree) with `text` as a regular file.
    public func put(_ relative: String, _ text: String) throws {
        let path = directory + "/" + relative
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}
