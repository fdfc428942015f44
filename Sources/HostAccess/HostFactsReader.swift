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
        facts.kernelRelease = fact("kernel release", nil) { () throws(HostAccessError) in
            try proc.readText("sys/kernel/osrelease")
        }
        facts.hostname = fact("hostname", nil) { () throws(HostAccessError) in
            (try proc.readText("sys/kernel/hostname")).flatMap(Self.nonEmpty)
        }
        facts.board = fact("DMI board", nil) { () throws(HostAccessError) -> DMIBoard? in
            // Only the world-readable identity files; board_serial and product_uuid stay unread.
            func field(_ name: String) throws(HostAccessError) -> String? {
                (try sys.readText("class/dmi/id/\(name)")).flatMap(Self.nonEmpty)
            }
            let board = DMIBoard(
                vendor: try field("board_vendor"), name: try field("board_name"), product: try field("product_name"))
            return board.vendor == nil && board.name == nil && board.product == nil ? nil : board
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
        facts.firmwareFramebuffers = fact("firmware framebuffers", []) { () throws(HostAccessError) in
            try readFirmwareFramebuffers(devices: devices)
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
    /// The text without surrounding whitespace; nil when nothing is left (DMI fields the
    /// firmware left blank).
    static func nonEmpty(_ text: String) -> String? {
        let trimmed = text.trimmingWhitespace()
        return trimmed.isEmpty ? nil : String(trimmed)
    }

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

    // MARK: - Boot display

    /// For each display function (class 03): the regions `/proc/iomem` nests in its BARs that
    /// its own driver did not claim, placed in a BAR by the `resource` file; the frame buffer
    /// devices in `class/graphics` that belong to it or to a firmware framebuffer; whether a
    /// virtual console is bound to a frame buffer (`class/vtconsole`). Reported for functions
    /// with such regions and for the boot display.
    private func readFirmwareFramebuffers(devices: [PCIDevice]) throws(HostAccessError) -> [FirmwareFramebuffer] {
        let displays = devices.filter { $0.config.baseClass == 0x03 }
        guard !displays.isEmpty, let text = try proc.readText("iomem", limit: InputLimits.kernelTableBytes) else {
            return []
        }
        let map = IOMemoryMap(parsing: text)
        var framebuffers: [FirmwareFramebuffer.FramebufferDevice] = []
        for node in (try sys.list("class/graphics") ?? []).sorted() where node.hasPrefix("fb") && !node.contains("/") {
            let name = try sys.readText("class/graphics/\(node)/name")
            let device = try sys.readLink("class/graphics/\(node)/device").flatMap { $0.split(separator: "/").last }
            framebuffers.append(.init(node: node, name: name, device: device.map(String.init)))
        }
        var consoleOnFramebuffer: Bool?
        if let consoles = try sys.list("class/vtconsole") {
            consoleOnFramebuffer = false
            for console in consoles.sorted() where console.hasPrefix("vtcon") && !console.contains("/") {
                if try sys.readText("class/vtconsole/\(console)/name")?.contains("frame buffer") == true,
                    try sys.readText("class/vtconsole/\(console)/bind") == "1"
                {
                    consoleOnFramebuffer = true
                }
            }
        }
        var result: [FirmwareFramebuffer] = []
        for device in displays {
            let own = Set([device.address.description, device.driver].compactMap { $0 })
            let bars = try barRanges(of: device.address)
            let regions = map.descendants(ofEntriesNamed: device.address.description)
                .filter { !own.contains($0.name) }
                .map { entry in
                    FirmwareFramebuffer.Region(
                        name: entry.name, holder: FirmwareFramebuffer.Holder(rawValue: entry.name) ?? .other,
                        start: entry.start, end: entry.end,
                        bar: entry.start == 0 ? nil : bars.firstIndex { $0?.contains(entry.start) == true })
                }
            guard !regions.isEmpty || device.isBootVGA else { continue }
            let platform = ["simple-framebuffer", "efi-framebuffer", "vesa-framebuffer"]
            let mine = framebuffers.filter { fb in
                guard let owner = fb.device else { return false }
                return owner == device.address.description
                    || (!regions.isEmpty && platform.contains { owner.hasPrefix($0) })
            }
            result.append(
                FirmwareFramebuffer(
                    address: device.address, regions: regions, framebuffers: mine,
                    consoleOnFramebuffer: consoleOnFramebuffer))
        }
        return result
    }

    /// The function's BARs from its `resource` file (one `start end flags` line per resource,
    /// BARs 0–5 first); unassigned ones are empty ranges.
    private func barRanges(of address: PCIAddress) throws(HostAccessError) -> [ClosedRange<UInt64>?] {
        guard let text = try sys.readText("bus/pci/devices/\(address)/resource") else { return [] }
        return text.split(separator: "\n").prefix(6).map { line in
            let fields = line.split(separator: " ").compactMap { parseHex(String($0)) }
            guard fields.count >= 2, fields[0] != 0, fields[0] <= fields[1] else { return nil }
            return fields[0]...fields[1]
        }
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
