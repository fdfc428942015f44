import PCIModel
import SystemPackage

/// Writes a `HostModel` as a sysfs/procfs tree with the kernel's layout: device directories
/// nested under their bridges in `sys/devices/pciDDDD:BB/`, `bus/pci/devices/*` links,
/// `driver`, `iommu_group` and `physfn` links, and the files lspci itself reads (`resource`,
/// `irq`, `vendor`, `device`, `class`), so `lspci -A linux-sysfs` can replay it too.
/// Used to turn lspci dumps into snapshots and by the host generator; never on a live root.
public struct SysfsTreeWriter {
    public let base: FilePath

    public init(base: FilePath) { self.base = base }

    /// Writes `model`; config bytes come from `model.configBytes` (readers keep them on request).
    public func write(_ model: HostModel) throws(HostAccessError) {
        let sys = base.appending("sys")
        try FileTree.makeDirectories(sys.appending("bus/pci/drivers"))
        // The files vfioctl's actions write, so trees can stand in for a host in tests.
        try FileTree.writeText(sys.appending("bus/pci/drivers_probe"), "")
        for driver in Set(model.devices.compactMap(\.driver) + ["vfio-pci"]) {
            try FileTree.writeText(sys.appending("bus/pci/drivers/\(driver)/bind"), "")
            try FileTree.writeText(sys.appending("bus/pci/drivers/\(driver)/unbind"), "")
        }
        if model.kernelGroups != nil { try FileTree.makeDirectories(sys.appending("kernel/iommu_groups")) }
        for device in model.devices {
            let path = devicePath(of: device.address, in: model)
            let directory = sys.appending(path)
            let config = model.configBytes[device.address] ?? []
            try FileTree.writeFile(directory.appending("config"), config)
            let c = device.config
            try FileTree.writeText(directory.appending("vendor"), "0x\(hex(device.vendorID, width: 4))\n")
            try FileTree.writeText(directory.appending("device"), "0x\(hex(device.deviceID, width: 4))\n")
            try FileTree.writeText(directory.appending("class"), "0x\(hex(c.classCode, width: 6))\n")
            try FileTree.writeText(directory.appending("revision"), "0x\(hex(c.revision, width: 2))\n")
            try FileTree.writeText(
                directory.appending("subsystem_vendor"), "0x\(hex(c.subsystemVendorID ?? 0, width: 4))\n")
            try FileTree.writeText(directory.appending("subsystem_device"), "0x\(hex(c.subsystemID ?? 0, width: 4))\n")
            try FileTree.writeText(directory.appending("irq"), "0\n")
            try FileTree.writeText(
                directory.appending("resource"),
                String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 13))
            try FileTree.writeText(directory.appending("numa_node"), "\(device.numaNode ?? -1)\n")
            try FileTree.writeText(directory.appending("driver_override"), "(null)\n")
            if let sriov = c.sriov {
                try FileTree.writeText(directory.appending("sriov_totalvfs"), "\(sriov.totalVFs)\n")
                try FileTree.writeText(directory.appending("sriov_numvfs"), "\(sriov.numVFs)\n")
                try FileTree.writeText(directory.appending("sriov_drivers_autoprobe"), "1\n")
            }
            if let methods = device.resetMethods {
                try FileTree.writeText(
                    directory.appending("reset_method"), methods.map(\.rawValue).joined(separator: " ") + "\n")
            }
            if let node = device.vfioDeviceName {
                try FileTree.makeDirectories(directory.appending("vfio-dev/\(node)"))
                // Device nodes are stood in for by empty files, as snapshots hold them.
                if device.hasVFIOCdev { try FileTree.writeText(base.appending("dev/vfio/devices/\(node)"), "") }
            }
            if c.baseClass == 0x03 {
                try FileTree.writeText(directory.appending("boot_vga"), device.isBootVGA ? "1\n" : "0\n")
            }
            let deviceComponents = components(of: device.address, in: model)
            for service in (device.portServices ?? []).sorted() {
                // The child's number is the kernel's (pcie_device_init: port type << 8 | service bit
                // on recent kernels); readers go by the driver link, so any stable number will do.
                let number = PCIExpressPortService.allCases.firstIndex(of: service) ?? 0
                let child = "\(device.address):pcie\(hex(1 << number, width: 3))"
                let driverComponents = ["bus", "pci_express", "drivers", service.rawValue]
                try FileTree.makeDirectories(sys.appending(driverComponents.joined(separator: "/")))
                try FileTree.makeLink(
                    directory.appending("\(child)/driver"),
                    to: FileTree.relativeLink(from: deviceComponents + [child], to: driverComponents))
            }
            try FileTree.makeLink(
                sys.appending("bus/pci/devices/\(device.address)"),
                to: FileTree.relativeLink(from: ["bus", "pci", "devices"], to: deviceComponents))
            if let driver = device.driver {
                try FileTree.makeDirectories(sys.appending("bus/pci/drivers/\(driver)"))
                try FileTree.makeLink(
                    directory.appending("driver"),
                    to: FileTree.relativeLink(from: deviceComponents, to: ["bus", "pci", "drivers", driver]))
            }
            if let group = device.iommuGroup {
                let groupComponents = ["kernel", "iommu_groups", String(group)]
                try FileTree.makeLink(
                    directory.appending("iommu_group"),
                    to: FileTree.relativeLink(from: deviceComponents, to: groupComponents))
                try FileTree.makeLink(
                    sys.appending("kernel/iommu_groups/\(group)/devices/\(device.address)"),
                    to: FileTree.relativeLink(from: groupComponents + ["devices"], to: deviceComponents))
            }
            if let pf = device.physicalFunction {
                let pfComponents = components(of: pf, in: model)
                try FileTree.makeLink(
                    directory.appending("physfn"), to: FileTree.relativeLink(from: deviceComponents, to: pfComponents))
                // virtfnN on the PF, numbered in VF order (routing ID order).
                let index = model.devices.filter { $0.physicalFunction == pf && $0.address < device.address }.count
                try FileTree.makeLink(
                    sys.appending(pfComponents.joined(separator: "/")).appending("virtfn\(index)"),
                    to: FileTree.relativeLink(from: pfComponents, to: deviceComponents))
            }
        }
        for (group, type) in model.groupTypes where model.kernelGroups?[group] != nil {
            try FileTree.writeText(sys.appending("kernel/iommu_groups/\(group)/type"), type.rawValue + "\n")
        }
        for group in model.vfioGroupNodes.sorted() {
            try FileTree.writeText(base.appending("dev/vfio/\(group)"), "")
        }
        try writeFacts(of: model)
    }

    /// `devices/pciDDDD:BB/<bridge>/…/<address>` (relative to sys/), the kernel's nesting.
    public func devicePath(of address: PCIAddress, in model: HostModel) -> String {
        let chain = model.upstreamBridges(of: address).reversed().map(\.address) + [address]
        let rootBus = chain.first ?? address
        return "devices/pci\(hex(rootBus.domain, width: 4)):\(hex(rootBus.bus, width: 2))/"
            + chain.map(\.description).joined(separator: "/")
    }

    /// `devicePath` as components relative to sys/: ["devices", "pci0000:00", …, address].
    private func components(of address: PCIAddress, in model: HostModel) -> [String] {
        devicePath(of: address, in: model).split(separator: "/").map(String.init)
    }

    private func writeFacts(of model: HostModel) throws(HostAccessError) {
        let facts = model.facts
        if let cmdline = facts.kernelCommandLine {
            try FileTree.writeText(base.appending("proc/cmdline"), cmdline + "\n")
        }
        if let vendor = facts.cpuVendor {
            try FileTree.writeText(base.appending("proc/cpuinfo"), "processor\t: 0\nvendor_id\t: \(vendor)\n")
        }
        for unit in facts.iommuUnits {
            let directory = base.appending("sys/class/iommu/\(unit.name)")
            switch unit.kind {
            case .intel:
                try FileTree.makeDirectories(directory.appending("intel-iommu"))
                if let cap = unit.capability {
                    try FileTree.writeText(directory.appending("intel-iommu/cap"), hex(cap, width: 1) + "\n")
                }
                if let ecap = unit.extendedCapability {
                    try FileTree.writeText(directory.appending("intel-iommu/ecap"), hex(ecap, width: 1) + "\n")
                }
            case .amd:
                try FileTree.makeDirectories(directory.appending("amd-iommu"))
                if let cap = unit.capability {
                    // As Linux ≥ 6.7 prints them: `%x` and `%llx:%llx` (EFR:EFR2); a tree
                    // without kernel/osrelease is read in that order.
                    try FileTree.writeText(directory.appending("amd-iommu/cap"), hex(cap, width: 1) + "\n")
                }
                if let features = unit.extendedCapability {
                    let efr2 = unit.extendedCapability2.map { ":" + hex($0, width: 1) } ?? ""
                    try FileTree.writeText(
                        directory.appending("amd-iommu/features"), hex(features, width: 1) + efr2 + "\n")
                }
            case .other:
                try FileTree.makeDirectories(directory)
            }
            for address in unit.devices where model[address] != nil {
                try FileTree.makeLink(
                    directory.appending("devices/\(address)"),
                    to: FileTree.relativeLink(
                        from: ["class", "iommu", unit.name, "devices"], to: components(of: address, in: model)))
            }
        }
        if facts.acpiDMARTable != nil || facts.acpiIVRSTable != nil {
            try FileTree.makeDirectories(base.appending("sys/firmware/acpi/tables"))
            if facts.acpiDMARTable == true {
                try FileTree.writeText(base.appending("sys/firmware/acpi/tables/DMAR"), "")
            }
            if facts.acpiIVRSTable == true {
                try FileTree.writeText(base.appending("sys/firmware/acpi/tables/IVRS"), "")
            }
        }
        if facts.iommufdDevice != nil || facts.vfioContainerDevice != nil {
            try FileTree.makeDirectories(base.appending("dev"))
            if facts.iommufdDevice == true { try FileTree.writeText(base.appending("dev/iommu"), "") }
            if facts.vfioContainerDevice == true { try FileTree.writeText(base.appending("dev/vfio/vfio"), "") }
        }
        for (backend, allowed) in facts.allowUnsafeInterrupts {
            try FileTree.writeText(
                base.appending("sys/module/\(backend.rawValue)/parameters/allow_unsafe_interrupts"),
                allowed ? "Y\n" : "N\n")
        }
        if facts.vfioPCIAvailability == .loaded {
            try FileTree.makeDirectories(base.appending("sys/module/vfio_pci"))
        }
    }
}
