import HostAccess
import PCIModel
import SystemPackage

/// A small host for reset tests: a downstream port (00:1c.0, secondary bus 1) with two
/// functions below it, as the kernel leaves a dual-function card.
///
/// - 01:00.0: multifunction, no FLR, NoSoftRst+; `reset_method` reads "bus" (filled when it
///   was added, before 01:00.1 was scanned); vfio-pci, group 1.
/// - 01:00.1: FLR and PM; `reset_method` "flr pm"; bound to `siblingDriver`, group 2.
/// - 00:02.0: a root-bus endpoint with FLR and no `reset_method` (an older kernel's view):
///   its methods come from config space.
public enum BusResetHost {
    public static let port = PCIAddress("00:1c.0")!
    public static let busOnly = PCIAddress("01:00.0")!
    public static let sibling = PCIAddress("01:00.1")!
    public static let rootEndpoint = PCIAddress("00:02.0")!

    public static func model(siblingDriver: String? = "e1000e", busOnlyMethods: [ResetMethod]? = [.bus]) -> HostModel {
        var port = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0xa110, classCode: 0x060400, headerType: 1)
        port.setBuses(primary: 0, secondary: 1, subordinate: 1)
        port.addExpress(type: .downstreamPort, slot: true)
        let first = Hosts.endpoint(multifunction: true, flr: false, noSoftReset: true)
        let second = Hosts.endpoint(multifunction: true, flr: true, noSoftReset: false)
        let root = Hosts.endpoint(flr: true, noSoftReset: true)
        var devices = [
            Hosts.device("00:1c.0", port, driver: "pcieport", group: 0),
            Hosts.device("01:00.0", first, driver: "vfio-pci", group: 1),
            Hosts.device("01:00.1", second, driver: siblingDriver, group: 2),
            Hosts.device("00:02.0", root, driver: "e1000e", group: 3),
        ]
        devices[1].resetMethods = busOnlyMethods
        devices[2].resetMethods = [.flr, .pm]
        HostModel.assignParentsFromBusRanges(&devices)
        let bytes = [port, first, second, root].map(\.bytes)
        var configBytes: [PCIAddress: [UInt8]] = [:]
        for (device, raw) in zip(devices, bytes) { configBytes[device.address] = raw }
        return HostModel(
            source: "test", devices: devices,
            kernelGroups: [0: [Self.port], 1: [busOnly], 2: [sibling], 3: [rootEndpoint]], facts: HostFacts(),
            configBytes: configBytes)
    }

    /// Writes `model` as a sysfs tree under `path` (sys/…), for the command line and actions,
    /// with `dev/vfio/1` for group 1, whose only function is on vfio-pci, and what probing the
    /// functions finds (both as KernelModel keeps them).
    public static func writeTree(_ model: HostModel = model(), at path: String) throws {
        try SysfsTreeWriter(base: FilePath(path)).write(model)
        try FileTree.makeDirectories(FilePath(path + "/dev/vfio"))
        try FileTree.writeText(FilePath(path + "/dev/vfio/1"), "")
        let writer = SysfsTreeWriter(base: FilePath(path))
        for device in model.devices {
            guard let methods = device.resetMethods else { continue }
            let directory = path + "/sys/" + writer.devicePath(of: device.address, in: model)
            try FileTree.writeText(
                FilePath(directory + "/" + KernelModel.probedFile),
                methods.map(\.rawValue).joined(separator: " ") + "\n")
        }
    }
}
