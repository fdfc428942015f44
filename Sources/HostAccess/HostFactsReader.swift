import PCIModel
import SystemPackage

/// Reads the host-wide facts: kernel command line, IOMMU units, ACPI DMAR/IVRS tables,
/// vfio-pci availability, and the PCI functions the host itself depends on.
struct HostFactsReader {
    let sys: RootedFileSystem
    let proc: RootedFileSystem
    let dev: RootedFileSystem
    let top: RootedFileSystem

    /// Each fact is read on its own: one that cannot be read (a FIFO, a file over its limit,
    /// a permission) is an anomaly naming it, and the others are still reported.
    func read(devices: [PCIDevice], anomalies: inout [String]) throws(HostAccessError) -> HostFacts {
        var facts = HostFacts()
        func fact<T>(_ name: String, _ fallback: T, _ body: () throws(HostAccessError) -> T) -> T {
            do {
                return try body()
            } catch {
                anomalies.append("host fact \(name) could not be read: \(error)")
                return fallback
            }
        }
        facts.kernelCommandLine = fact("kernel command line", nil) { () throws(HostAccessError) in
            try proc.readText("cmdline")
        }
        facts.cpuVendor = fact("CPU vendor", nil) { () throws(HostAccessError) -> String? in
            guard let cpuinfo = try proc.readText("cpuinfo", limit: InputLimits.kernelTableBytes),
                let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }),
                let colon = line.firstIndex(of: ":")
            else { return nil }
            return String(line[line.index(after: colon)...].trimmingWhitespace())
        }
        facts.iommuUnits = fact("IOMMU units", []) { () throws(HostAccessError) in try readIOMMUUnits() }
        fact("ACPI tables", ()) { () throws(HostAccessError) in
            if try sys.list("firmware/acpi/tables") != nil {
                facts.acpiDMARTable = sys.exists("firmware/acpi/tables/DMAR")
                facts.acpiIVRSTable = sys.exists("firmware/acpi/tables/IVRS")
            }
        }
        facts.vfioPCIAvailability = fact("vfio-pci availability", .unknown) { () throws(HostAccessError) in
            try readVFIOAvailability()
        }
        fact("VFIO interfaces", ()) { () throws(HostAccessError) in
            // Recording the root of dev/ puts it in a snapshot, so a snapshot without
            // dev/iommu says "absent", not "unknown".
            if dev.exists(".") {
                facts.iommufdDevice = dev.exists("iommu")
                facts.vfioContainerDevice = dev.exists("vfio/vfio")
            }
        }
        for backend in VFIOIOMMUBackend.allCases {
            let file = "module/\(backend.rawValue)/parameters/allow_unsafe_interrupts"
            let text = fact("\(backend.rawValue).allow_unsafe_interrupts", nil) { () throws(HostAccessError) in
                try sys.readText(file)
            }
            switch text {
            case nil: break
            case "Y", "y", "1": facts.allowUnsafeInterrupts[backend] = true
            case "N", "n", "0": facts.allowUnsafeInterrupts[backend] = false
            case let other?:
                anomalies.append(
                    "\((try? sys.resolve(file).string) ?? file) reads \"\(other.prefix(32))\", not Y or N: the setting is unknown"
                )
            }
        }
        let known = Set(devices.map(\.address))
        var dependencies: [HostDependency] = []
        fact("the root file system's device", ()) { () throws(HostAccessError) in
            if let root = try rootFilesystemSource() {
                for address in try pciAddresses(ofBlockDevice: root.device, depth: 0) where known.contains(address) {
                    dependencies.append(
                        .init(address: address, kind: .rootFilesystem, detail: "/ is on \(root.source)"))
                }
            }
        }
        fact("the default route's interface", ()) { () throws(HostAccessError) in
            for interface in try defaultRouteInterfaces() {
                for address in try pciAddresses(ofInterface: interface, depth: 0) where known.contains(address) {
                    dependencies.append(
                        .init(
                            address: address, kind: .defaultRoute,
                            detail: "the default route leaves through \(interface)"))
                }
            }
        }
        for device in devices where device.isBootVGA {
            dependencies.append(
                .init(address: device.address, kind: .bootVGA, detail: "boot_vga is 1: firmware's console display"))
        }
        facts.hostDependencies = dependencies
        return facts
    }

    // MARK: - IOMMU

    /// `class/iommu/NAME/intel-iommu/{cap,ecap}` or `amd-iommu/{cap,features}`.
    private func readIOMMUUnits() throws(HostAccessError) -> [IOMMUUnit] {
        guard let names = try sys.list("class/iommu") else { return [] }
        var units: [IOMMUUnit] = []
        for name in names {
            let base = "class/iommu/\(name)"
            var unit: IOMMUUnit
            if sys.exists(base + "/intel-iommu") {
                unit = IOMMUUnit(
                    name: name, kind: .intel, capability: try sys.readText(base + "/intel-iommu/cap").flatMap(parseHex),
                    extendedCapability: try sys.readText(base + "/intel-iommu/ecap").flatMap(parseHex))
            } else if let cap = try sys.readText(base + "/amd-iommu/cap") {
                let order = AMDIOMMUFeatures.FeaturesOrder(kernelRelease: try proc.readText("sys/kernel/osrelease"))
                let features = try sys.readText(base + "/amd-iommu/features").flatMap {
                    AMDIOMMUFeatures.parseFeatures($0, order: order)
                }
                unit = IOMMUUnit(
                    name: name, kind: .amd, capability: parseHex(cap), extendedCapability: features?.efr)
                unit.extendedCapability2 = features?.efr2
            } else {
                unit = IOMMUUnit(name: name, kind: .other)
            }
            // The entries are links named after each function; touching them records them
            // for snapshots.
            let entries = try sys.list(base + "/devices") ?? []
            unit.devices = entries.compactMap { entry in
                guard let address = PCIAddress(entry) else { return nil }
                _ = sys.exists(base + "/devices/" + entry)
                return address
            }
            units.append(unit)
        }
        return units
    }

    /// vfio-pci loaded (`module/vfio_pci`), built in (`modules.builtin`) or a module file
    /// (`modules.dep`) for the running kernel (`sys/kernel/osrelease`).
    private func readVFIOAvailability() throws(HostAccessError) -> ModuleAvailability {
        if sys.exists("module/vfio_pci") { return .loaded }
        guard let release = try proc.readText("sys/kernel/osrelease"), !release.contains("/") else { return .unknown }
        let modules = "lib/modules/\(release)"
        if let builtin = try top.readText(modules + "/modules.builtin", limit: InputLimits.kernelTableBytes),
            builtin.contains("/vfio-pci.ko")
        {
            return .builtin
        }
        guard let dependencies = try top.readText(modules + "/modules.dep", limit: InputLimits.kernelTableBytes) else {
            return .unknown
        }
        return dependencies.contains("/vfio-pci.ko") ? .available : .missing
    }

    // MARK: - Host dependencies

    /// The device `/` is mounted from (`/proc/mounts`, last entry wins), as a block device name.
    private func rootFilesystemSource() throws(HostAccessError) -> (source: String, device: String)? {
        guard let mounts = try proc.readText("mounts", limit: InputLimits.kernelTableBytes) else { return nil }
        var source: String?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, fields[1] == "/" { source = String(fields[0]) }
        }
        guard let source, source.hasPrefix("/dev/") else { return nil }
        var name = String(source.dropFirst("/dev/".count))
        // /dev/mapper/NAME and /dev/disk/by-*/ are links to the kernel name (../dm-0).
        if let target = try dev.readLink(name), let last = target.split(separator: "/").last {
            name = String(last)
        }
        return (source, name)
    }

    /// PCI functions under `class/block/NAME`, following `slaves/` of dm and md devices.
    private func pciAddresses(ofBlockDevice name: String, depth: Int) throws(HostAccessError) -> [PCIAddress] {
        guard depth < 4, !name.contains("/"), let target = try sys.readLink("class/block/\(name)") else { return [] }
        if let address = nearestPCIAddress(in: target) { return [address] }
        // A partition's link names its disk's path too; a virtual device lists what it is built on.
        var result: [PCIAddress] = []
        for slave in try sys.list("class/block/\(name)/slaves") ?? [] {
            result += try pciAddresses(ofBlockDevice: slave, depth: depth + 1)
        }
        return result
    }

    /// Interfaces that carry a default route (`/proc/net/route` destination and mask 0).
    private func defaultRouteInterfaces() throws(HostAccessError) -> [String] {
        guard let table = try proc.readText("net/route", limit: InputLimits.kernelTableBytes) else { return [] }
        var result: [String] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000", !result.contains(String(fields[0]))
            {
                result.append(String(fields[0]))
            }
        }
        return result
    }

    /// PCI functions behind a network interface, following bridge ports and bond/vlan lowers.
    private func pciAddresses(ofInterface name: String, depth: Int) throws(HostAccessError) -> [PCIAddress] {
        guard depth < 4, !name.contains("/") else { return [] }
        // class/net/NAME links to the interface's place in the device tree
        // (…/0000:00:03.0/virtio2/net/eth0); its `device` link may name only the virtio device.
        if let target = try sys.readLink("class/net/\(name)"), let address = nearestPCIAddress(in: target) {
            return [address]
        }
        var result: [PCIAddress] = []
        for port in try sys.list("class/net/\(name)/brif") ?? [] {
            result += try pciAddresses(ofInterface: port, depth: depth + 1)
        }
        for entry in try sys.list("class/net/\(name)") ?? [] where entry.hasPrefix("lower_") {
            result += try pciAddresses(ofInterface: String(entry.dropFirst("lower_".count)), depth: depth + 1)
        }
        return result
    }

    /// The last path component that is a PCI address: the function nearest the leaf.
    private func nearestPCIAddress(in path: String) -> PCIAddress? {
        path.split(separator: "/").reversed().lazy.compactMap { PCIAddress($0) }.first
    }
}
