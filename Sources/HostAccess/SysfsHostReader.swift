import PCIModel
import SystemPackage

/// Builds a `HostModel` from a sysfs/procfs tree: the live host, a `--root` directory or an
/// unpacked snapshot. libpci enumerates and reads config space; the sysfs attributes around
/// it (driver, iommu_group, topology) are read here.
public struct SysfsHostReader: Sendable {
    public let roots: HostRoots
    /// Records every path read, for `snapshot create`.
    public let recorder: AccessRecorder?

    public init(roots: HostRoots, recorder: AccessRecorder? = nil) {
        self.roots = roots
        self.recorder = recorder
    }

    public func read(source: String) throws(HostAccessError) -> HostModel {
        var sys = roots.sys
        sys.recorder = recorder
        guard sys.exists("bus/pci/devices") else {
            throw HostAccessError(
                .notFound,
                "no PCI device directory at \(roots.base.appending("sys/bus/pci/devices")): "
                    + "the root must hold sys/ and proc/ (a host root or an unpacked snapshot)",
                path: roots.base.string)
        }
        _ = try sys.list("bus/pci/devices")
        let library = try PCILibrary(sysfsPath: try sys.resolve("bus/pci").string)
        var anomalies: [String] = []
        var configured: [PCIDevice] = []
        for (address, handle) in library.functions() {
            let base = "bus/pci/devices/\(address)"
            recorder?.record(try sys.resolve(base + "/config").string)
            let bytes: [UInt8]
            do {
                bytes = try library.readConfig(handle, address: address)
            } catch {
                anomalies.append("\(error.message) (\(try sys.resolve(base + "/config")))")
                continue
            }
            let config = DecodedConfig(ConfigSpace(bytes))
            var device = PCIDevice(address: address, config: config)
            device.name = library.deviceName(vendorID: config.vendorID, deviceID: config.deviceID)
            configured.append(device)
        }
        // The sysfs attributes around config space are independent per device: read them on
        // both cores (each worker opens its own directories).
        let reader = self
        let attributeFS = sys
        let withAttributes = configured.parallelMap { device in
            var device = device
            var notes: [String] = []
            var linked = true
            do {
                try reader.readAttributes(of: &device, in: attributeFS, anomalies: &notes, topologyFromLinks: &linked)
            } catch {
                notes.append("\(error)")
            }
            return (device, notes, linked)
        }
        var devices: [PCIDevice] = []
        var topologyFromLinks = true
        for (device, notes, linked) in withAttributes {
            devices.append(device)
            anomalies += notes
            topologyFromLinks = topologyFromLinks && linked
        }
        if !topologyFromLinks {
            HostModel.assignParentsFromBusRanges(&devices)
        }
        let kernelGroups = try readKernelGroups(devices: devices, sys: sys)
        var proc = roots.proc
        proc.recorder = recorder
        var top = roots.top
        top.recorder = recorder
        let facts = try HostFactsReader(sys: sys, proc: proc, dev: roots.dev, top: top)
            .read(devices: devices, anomalies: &anomalies)
        return HostModel(
            source: source, devices: devices, kernelGroups: kernelGroups, facts: facts, anomalies: anomalies)
    }

    /// The sysfs attributes next to `config`: upstream bridge (from the device symlink's
    /// target), `driver`, `iommu_group`, `numa_node`, `boot_vga`, `reset_method`, and for a
    /// VF (config vendor 0xffff) `vendor`, `device` and `physfn`.
    private func readAttributes(
        of device: inout PCIDevice, in sys: RootedFileSystem, anomalies: inout [String], topologyFromLinks: inout Bool
    ) throws(HostAccessError) {
        let name = device.address.description
        if let target = try sys.readLink("bus/pci/devices/\(name)") {
            let components = target.split(separator: "/")
            if let own = components.lastIndex(where: { PCIAddress($0) == device.address }), own > 0 {
                device.parent = PCIAddress(components[own - 1])
            } else {
                anomalies.append("\(try sys.resolve("bus/pci/devices/\(name)")) links to \(target), which does not end in the device's address")
            }
        } else {
            topologyFromLinks = false
        }
        guard let directory = try sys.openDirectory("bus/pci/devices/\(name)") else {
            anomalies.append("\(try sys.resolve("bus/pci/devices/\(name)")) is not a directory (a dangling link?)")
            return
        }
        if let driver = try directory.readLink("driver") {
            device.driver = driver.split(separator: "/").last.map(String.init)
        }
        if let group = try directory.readLink("iommu_group") {
            if let last = group.split(separator: "/").last, let number = Int(last) {
                device.iommuGroup = number
            } else {
                anomalies.append("\(directory.path.appending("iommu_group")) links to \(group), not to kernel/iommu_groups/N")
            }
        }
        if let node = try directory.readText("numa_node"), let value = Int(node), value >= 0 {
            device.numaNode = value
        }
        if device.config.baseClass == 0x03 {
            device.isBootVGA = try directory.readText("boot_vga") == "1"
        }
        if let methods = try directory.readText("reset_method") {
            device.resetMethods = methods.split(separator: " ").map(String.init)
        }
        if device.config.vendorID == 0xffff {
            if let vendor = try directory.readText("vendor").flatMap(parseHex),
                let id = try directory.readText("device").flatMap(parseHex)
            {
                device.vendorID = UInt16(truncatingIfNeeded: vendor)
                device.deviceID = UInt16(truncatingIfNeeded: id)
            }
            if let physfn = try directory.readLink("physfn"), let last = physfn.split(separator: "/").last {
                device.physicalFunction = PCIAddress(last)
            }
        }
    }

    /// Groups from each device's `iommu_group` link. nil when `kernel/iommu_groups` is not in
    /// the tree at all (the source cannot tell); empty when the kernel has no groups (IOMMU off).
    private func readKernelGroups(devices: [PCIDevice], sys: RootedFileSystem) throws(HostAccessError) -> [Int: [PCIAddress]]? {
        guard try sys.list("kernel/iommu_groups") != nil else { return nil }
        var groups: [Int: [PCIAddress]] = [:]
        for device in devices {
            if let group = device.iommuGroup { groups[group, default: []].append(device.address) }
        }
        return groups
    }
}

/// Parses sysfs hex text such as `0x8086` or `8086`.
func parseHex(_ text: String) -> UInt64? {
    let trimmed = text.trimmingPrefix("0x")
    return UInt64(trimmed, radix: 16)
}
