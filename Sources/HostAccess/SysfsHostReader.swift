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
        // Enumeration and config space are read here, through the root resolver, rather
        // than by libpci's sysfs method, which follows any link a tree holds (a snapshot's
        // `config` linking to a host file) and blocks on a FIFO. libpci still names devices
        // (pci.ids) and reads lspci dumps.
        var addresses: [PCIAddress] = []
        var enumerationNotes: [String] = []
        for name in try sys.list("bus/pci/devices") ?? [] {
            if let address = PCIAddress(name), address.description == name {
                addresses.append(address)
            } else {
                enumerationNotes.append(
                    "\(try sys.resolve("bus/pci/devices/\(name)")) is not named DDDD:BB:DD.F: skipped")
            }
        }
        let workers = addresses.count >= 256 ? 2 : 1
        let reader = self
        let attributeFS = sys
        // The device links are read in this one directory, not each resolved from the root.
        guard let deviceLinks = try sys.openDirectory("bus/pci/devices") else {
            throw HostAccessError(.notFound, "bus/pci/devices vanished while it was read", path: roots.base.string)
        }
        let results = addresses.parallelMap(workers: workers, minimumPerWorker: 128) { address, _ in
            var notes: [String] = []
            var linked = true
            do {
                let name = address.description
                guard let directory = try attributeFS.openDirectory("bus/pci/devices/" + name) else {
                    return (PCIDevice?.none, ["bus/pci/devices/\(address) vanished while it was read"], linked)
                }
                guard let bytes = try directory.readBytes("config", limit: InputLimits.configSpaceBytes),
                    bytes.count >= 64
                else {
                    return (
                        nil,
                        [
                            "cannot read config space of \(address): \(directory.path)/config is missing or shorter than 64 bytes"
                        ],
                        linked
                    )
                }
                var device = PCIDevice(address: address, config: DecodedConfig(ConfigSpace(bytes)))
                do {
                    try reader.readAttributes(
                        of: &device, directory: directory, link: deviceLinks.readLink(name), anomalies: &notes,
                        topologyFromLinks: &linked)
                } catch {
                    notes.append("\(error)")
                }
                return (device, notes, linked)
            } catch {
                return (nil, ["\(address): \(error)"], linked)
            }
        }
        let first = try PCILibrary(namesOnly: ())
        var anomalies: [String] = enumerationNotes
        var names: [UInt32: String?] = [:]
        var devices: [PCIDevice] = []
        var topologyFromLinks = true
        for (device, notes, linked) in results {
            anomalies += notes
            topologyFromLinks = topologyFromLinks && linked
            if let device { devices.append(device) }
        }
        assignVirtualFunctionIDs(&devices, in: sys, anomalies: &anomalies)
        for index in devices.indices {
            // pci.ids lookups on one handle, once per vendor:device pair.
            let (vendor, device) = (devices[index].vendorID, devices[index].deviceID)
            let key = UInt32(vendor) << 16 | UInt32(device)
            if names[key] == nil { names[key] = first.deviceName(vendorID: vendor, deviceID: device) }
            devices[index].name = names[key] ?? nil
        }
        if !topologyFromLinks {
            HostModel.assignParentsFromBusRanges(&devices)
        }
        var dev = roots.dev
        dev.recorder = recorder
        for index in devices.indices {
            if let node = devices[index].vfioDeviceName {
                devices[index].hasVFIOCdev = dev.exists("vfio/devices/\(node)")
            }
        }
        let kernelGroups = try readKernelGroups(devices: devices, sys: sys)
        var groupTypes: [Int: IOMMUGroupType] = [:]
        var vfioGroupNodes: Set<Int> = []
        for group in (kernelGroups ?? [:]).keys.sorted() {
            let file = "kernel/iommu_groups/\(group)/type"
            do {
                if let text = try sys.readText(file) {
                    if let type = IOMMUGroupType(sysfs: text) {
                        groupTypes[group] = type
                    } else {
                        anomalies.append(
                            "\(try sys.resolve(file)) reads \"\(text.prefix(32))\", not a type the kernel prints (DMA, DMA-FQ, identity, blocked, unmanaged, unknown)"
                        )
                    }
                }
            } catch {
                anomalies.append("\(error)")
            }
            if dev.exists("vfio/\(group)") { vfioGroupNodes.insert(group) }
        }
        var proc = roots.proc
        proc.recorder = recorder
        var top = roots.top
        top.recorder = recorder
        let facts = try HostFactsReader(sys: sys, proc: proc, dev: roots.dev, top: top)
            .read(devices: devices, anomalies: &anomalies)
        var model = HostModel(
            source: source, devices: devices, kernelGroups: kernelGroups, facts: facts, anomalies: anomalies)
        model.groupTypes = groupTypes
        model.vfioGroupNodes = vfioGroupNodes
        return model
    }

    /// The sysfs attributes next to `config`: upstream bridge (from `link`, the target of the
    /// device's link in `bus/pci/devices`), `driver`, `iommu_group`, `boot_vga`,
    /// `reset_method`, `vfio-dev/`, the port services, and for a VF (config vendor 0xffff)
    /// `vendor`, `device` and `physfn`. Every read is inside the device's open directory.
    private func readAttributes(
        of device: inout PCIDevice, directory: DirectoryHandle, link: String?, anomalies: inout [String],
        topologyFromLinks: inout Bool
    ) throws(HostAccessError) {
        if let link {
            // `../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0`: the component before the
            // device's own is its upstream bridge (or the host bridge `pci0000:00`: a root bus).
            var components = LinkComponents(link)
            if let own = components.next(), PCIAddress(own) == device.address {
                device.parent = components.next().flatMap(PCIAddress.init)
            } else {
                anomalies.append(
                    "\(directory.path) links to \(link), which does not end in the device's address")
            }
        } else {
            topologyFromLinks = false
        }
        if let driver = try directory.readLink("driver") {
            device.driver = LinkComponents.last(of: driver).map(String.init)
        }
        if let group = try directory.readLink("iommu_group") {
            if let last = LinkComponents.last(of: group), let number = Int(last) {
                device.iommuGroup = number
            } else {
                anomalies.append(
                    "\(directory.path.appending("iommu_group")) links to \(group), not to kernel/iommu_groups/N")
            }
        }
        // `numa_node` only matters to `hugepages --node auto`, for one function
        // (`numaNode(of:)`): recorded for snapshots, not read for every function.
        directory.record("numa_node")
        if device.config.baseClass == 0x03 {
            device.isBootVGA = try directory.readText("boot_vga") == "1"
        }
        if let methods = try directory.readText("reset_method") {
            let parsed = ResetMethod.parseList(methods)
            device.resetMethods = parsed.methods
            if !parsed.unknown.isEmpty {
                anomalies.append(
                    "\(directory.path.appending("reset_method")) names reset methods vfioctl does not know: "
                        + parsed.unknown.joined(separator: " "))
            }
        }
        // `vfio-dev/vfioN` is the VFIO core's own mark (any VFIO driver, Linux ≥ 6.1); see
        // VFIOOwnership. Only a name the core makes counts.
        if let vfioDev = try directory.subdirectory("vfio-dev"),
            let node = try vfioDev.names().first(where: PCIDevice.isVFIODeviceNodeName)
        {
            device.vfioDeviceName = node
            vfioDev.record(node)  // for snapshots
        }
        if device.isBridge, device.config.express != nil {
            device.portServices = try readPortServices(of: device.address.description, in: directory)
        }
        if device.config.vendorID == 0xffff {
            if let physfn = try directory.readLink("physfn"), let last = LinkComponents.last(of: physfn) {
                device.physicalFunction = PCIAddress(last)
            }
            if device.physicalFunction != nil {
                // A VF's ids are its PF's (`assignVirtualFunctionIDs`); the files are recorded
                // for snapshots, and read only when the PF cannot tell.
                directory.record("vendor")
                directory.record("device")
            } else {
                try Self.readIDs(of: &device, in: directory)
            }
        }
    }

    /// One function's `numa_node`: nil when the kernel says -1 (no node). An error when the
    /// source has no such function.
    public func numaNode(of address: PCIAddress) throws(HostAccessError) -> Int? {
        var sys = roots.sys
        sys.recorder = recorder
        guard let directory = try sys.openDirectory("bus/pci/devices/" + address.description) else {
            throw HostAccessError(
                .notFound, "no PCI function \(address) in \(roots.base)", path: roots.base.string)
        }
        guard let text = try directory.readText("numa_node"), let value = Int(text) else { return nil }
        return value >= 0 ? value : nil
    }

    /// `vendor` and `device` from sysfs, for a function whose config space reads 0xffff.
    private static func readIDs(of device: inout PCIDevice, in directory: DirectoryHandle) throws(HostAccessError) {
        if let vendor = try directory.readText("vendor").flatMap(parseHex),
            let id = try directory.readText("device").flatMap(parseHex)
        {
            device.vendorID = UInt16(truncatingIfNeeded: vendor)
            device.deviceID = UInt16(truncatingIfNeeded: id)
        }
    }

    /// Each VF's vendor and device id as the kernel sets them (`pci_iov_add_virtfn()`): the
    /// PF's vendor, and the VF Device ID of the PF's SR-IOV capability (offset 0x1a). This
    /// is what sysfs `vendor` and `device` say, without two file reads per VF. A VF whose PF
    /// is not in `devices` or has no SR-IOV capability has its files read instead.
    private func assignVirtualFunctionIDs(
        _ devices: inout [PCIDevice], in sys: RootedFileSystem, anomalies: inout [String]
    ) {
        var position: [PCIAddress: Int] = [:]
        for index in devices.indices where devices[index].config.sriov != nil {
            position[devices[index].address] = index
        }
        for index in devices.indices where devices[index].config.vendorID == 0xffff {
            guard let pf = devices[index].physicalFunction else { continue }
            // The PF must answer for itself (a function reading 0xffff is no PF to copy from).
            if let pfIndex = position[pf], devices[pfIndex].config.vendorID != 0xffff,
                let sriov = devices[pfIndex].config.sriov
            {
                devices[index].vendorID = devices[pfIndex].vendorID
                devices[index].deviceID = sriov.vfDeviceID
                continue
            }
            do {
                if let directory = try sys.openDirectory("bus/pci/devices/" + devices[index].address.description) {
                    try Self.readIDs(of: &devices[index], in: directory)
                }
            } catch {
                anomalies.append("\(error)")
            }
        }
    }

    /// The port driver's services on a PCIe port: each child directory `ADDR:pcieNNN` whose
    /// `driver` link names a known service driver. nil when the port's directory lists none
    /// (no port driver bound, or a source without them).
    private func readPortServices(of name: String, in directory: DirectoryHandle) throws(HostAccessError)
        -> Set<PCIExpressPortService>?
    {
        let children = try directory.names().filter { $0.hasPrefix(name + ":pcie") }
        guard !children.isEmpty else { return nil }
        var services = Set<PCIExpressPortService>()
        for child in children {
            if let driver = try directory.subdirectory(child)?.readLink("driver"),
                let last = LinkComponents.last(of: driver),
                let service = PCIExpressPortService(rawValue: String(last))
            {
                services.insert(service)
            }
        }
        return services
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

/// A link target's components from the last one back (`a/b/c` gives `c`, `b`, `a`), without
/// splitting the whole string: readers want the last one or two.
struct LinkComponents: IteratorProtocol {
    private let text: Substring
    private var end: String.Index

    init(_ text: String) {
        self.text = Substring(text)
        end = text.endIndex
    }

    /// The last component: what a `driver`, `iommu_group` or `physfn` link names.
    static func last(of text: String) -> Substring? {
        var components = LinkComponents(text)
        return components.next()
    }

    mutating func next() -> Substring? {
        while end > text.startIndex {
            let start = text[..<end].lastIndex(of: "/").map { text.index(after: $0) } ?? text.startIndex
            let component = text[start..<end]
            end = start > text.startIndex ? text.index(before: start) : text.startIndex
            // Empty and `.` components name nothing (`a//b`, `a/./b`, a trailing `/.`).
            if !component.isEmpty, component != "." { return component }
        }
        return nil
    }
}
