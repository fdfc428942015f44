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
        // One libpci handle per worker: config reads and the sysfs attributes around them are
        // independent per device, so both cores share the work. libpci handles are not
        // thread-safe, but each is only ever used by its own worker.
        let busPath = try sys.resolve("bus/pci").string
        let first = try PCILibrary(sysfsPath: busPath)
        let functions = first.functions()
        let workers = functions.count >= 256 ? 2 : 1
        var libraries = [first]
        var handles = [Dictionary(functions, uniquingKeysWith: { a, _ in a })]
        if workers == 2 {
            let second = try PCILibrary(sysfsPath: busPath)
            libraries.append(second)
            handles.append(Dictionary(second.functions(), uniquingKeysWith: { a, _ in a }))
        }
        nonisolated(unsafe) let perWorker = (libraries: libraries, handles: handles)
        let reader = self
        let attributeFS = sys
        let recorder = self.recorder
        let results = functions.map(\.0).parallelMap(workers: workers, minimumPerWorker: 128) { address, worker in
            var notes: [String] = []
            var linked = true
            let configPath = (try? attributeFS.resolve("bus/pci/devices/\(address)/config").string) ?? "config"
            recorder?.record(configPath)
            guard let handle = perWorker.handles[worker][address] else {
                return (PCIDevice?.none, ["libpci lost \(address) between two scans of \(busPath)"], linked)
            }
            let bytes: [UInt8]
            do {
                bytes = try perWorker.libraries[worker].readConfig(handle, address: address)
            } catch {
                return (nil, ["\(error) (\(configPath))"], linked)
            }
            var device = PCIDevice(address: address, config: DecodedConfig(ConfigSpace(bytes)))
            do {
                try reader.readAttributes(of: &device, in: attributeFS, anomalies: &notes, topologyFromLinks: &linked)
            } catch {
                notes.append("\(error)")
            }
            return (device, notes, linked)
        }
        var anomalies: [String] = []
        var names: [UInt32: String?] = [:]
        var devices: [PCIDevice] = []
        var topologyFromLinks = true
        for (device, notes, linked) in results {
            anomalies += notes
            topologyFromLinks = topologyFromLinks && linked
            guard var device else { continue }
            // pci.ids lookups on the first handle only, once per vendor:device pair.
            let key = UInt32(device.vendorID) << 16 | UInt32(device.deviceID)
            if names[key] == nil { names[key] = first.deviceName(vendorID: device.vendorID, deviceID: device.deviceID) }
            device.name = names[key] ?? nil
            devices.append(device)
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
                anomalies.append(
                    "\(try sys.resolve("bus/pci/devices/\(name)")) links to \(target), which does not end in the device's address"
                )
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
                anomalies.append(
                    "\(directory.path.appending("iommu_group")) links to \(group), not to kernel/iommu_groups/N")
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
    private func readKernelGroups(devices: [PCIDevice], sys: RootedFileSystem) throws(HostAccessError) -> [Int:
        [PCIAddress]]?
    {
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
