/// One PCI function as vfioctl knows it: decoded config space plus what sysfs says about it.
///
/// A value type kept in one shared box (copy on write): analyses pass devices around by the
/// thousand, and copying the decoded config space and its strings each time was a fifth of
/// `inspect`'s time (issue 17). Reads borrow the box; the first write to a shared copy
/// copies it.
public struct PCIDevice: Sendable {
    private final class Storage: @unchecked Sendable {
        var address: PCIAddress
        var config: DecodedConfig
        var vendorID: UInt16
        var deviceID: UInt16
        var name: String?
        var driver: String?
        var iommuGroup: Int?
        var parent: PCIAddress?
        var numaNode: Int?
        var isBootVGA: Bool
        var resetMethods: [ResetMethod]?
        var physicalFunction: PCIAddress?
        var vfioDeviceName: String?
        var portServices: Set<PCIExpressPortService>?
        var hasVFIOCdev: Bool

        init(address: PCIAddress, config: DecodedConfig, vendorID: UInt16, deviceID: UInt16) {
            self.address = address
            self.config = config
            self.vendorID = vendorID
            self.deviceID = deviceID
            self.name = nil
            self.driver = nil
            self.iommuGroup = nil
            self.parent = nil
            self.numaNode = nil
            self.isBootVGA = false
            self.resetMethods = nil
            self.physicalFunction = nil
            self.vfioDeviceName = nil
            self.portServices = nil
            self.hasVFIOCdev = false
        }

        func copy() -> Storage {
            let copy = Storage(address: address, config: config, vendorID: vendorID, deviceID: deviceID)
            copy.name = name
            copy.driver = driver
            copy.iommuGroup = iommuGroup
            copy.parent = parent
            copy.numaNode = numaNode
            copy.isBootVGA = isBootVGA
            copy.resetMethods = resetMethods
            copy.physicalFunction = physicalFunction
            copy.vfioDeviceName = vfioDeviceName
            copy.portServices = portServices
            copy.hasVFIOCdev = hasVFIOCdev
            return copy
        }
    }

    private var storage: Storage

    /// The box to write to: this value's own, copied first when another value shares it.
    private var unique: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }
    }

    public var address: PCIAddress {
        _read { yield storage.address }
        _modify { yield &unique.address }
    }
    public var config: DecodedConfig {
        _read { yield storage.config }
        _modify { yield &unique.config }
    }
    /// `vendor`/`device` from sysfs where they differ from config space (a VF reads 0xffff there).
    public var vendorID: UInt16 {
        _read { yield storage.vendorID }
        _modify { yield &unique.vendorID }
    }
    public var deviceID: UInt16 {
        _read { yield storage.deviceID }
        _modify { yield &unique.deviceID }
    }
    /// Vendor and device name from pci.ids (libpci), nil when unknown.
    public var name: String? {
        _read { yield storage.name }
        _modify { yield &unique.name }
    }
    /// The driver bound now: the last component of the `driver` symlink; nil when unbound.
    public var driver: String? {
        _read { yield storage.driver }
        _modify { yield &unique.driver }
    }
    /// The kernel's group: the last component of the `iommu_group` symlink; nil when none.
    public var iommuGroup: Int? {
        _read { yield storage.iommuGroup }
        _modify { yield &unique.iommuGroup }
    }
    /// The bridge whose secondary bus this function sits on; nil on a root bus.
    public var parent: PCIAddress? {
        _read { yield storage.parent }
        _modify { yield &unique.parent }
    }
    /// `numa_node`; nil when unknown or -1. Tree writers (`vfioctl-hostgen`) set it; the
    /// host reader leaves it nil, as only `hugepages --node auto` needs one function's
    /// (`SysfsHostReader.numaNode(of:)`).
    public var numaNode: Int? {
        _read { yield storage.numaNode }
        _modify { yield &unique.numaNode }
    }
    /// `boot_vga` reads 1: firmware's console display device.
    public var isBootVGA: Bool {
        _read { yield storage.isBootVGA }
        _modify { yield &unique.isBootVGA }
    }
    /// `reset_method` (kernel ≥ 5.15), in the kernel's order; nil when the file is absent.
    public var resetMethods: [ResetMethod]? {
        _read { yield storage.resetMethods }
        _modify { yield &unique.resetMethods }
    }
    /// `physfn` of an SR-IOV virtual function.
    public var physicalFunction: PCIAddress? {
        _read { yield storage.physicalFunction }
        _modify { yield &unique.physicalFunction }
    }
    /// The VFIO device node's name under `vfio-dev/` (`vfio0`; kernel ≥ 6.1 with vfio-pci or
    /// a vfio-pci variant driver bound), whose character device is `/dev/vfio/devices/vfio0`
    /// when the kernel has VFIO_DEVICE_CDEV. nil when the directory is absent. See
    /// `VFIOOwnership`.
    public var vfioDeviceName: String? {
        _read { yield storage.vfioDeviceName }
        _modify { yield &unique.vfioDeviceName }
    }
    /// The PCIe port services the kernel's port driver bound on this port: the children
    /// `ADDR:pcieNNN` of the port's sysfs directory, each named by its `driver` link
    /// (drivers/pci/pcie/portdrv.c). nil when the source cannot tell (not a port, an lspci dump).
    public var portServices: Set<PCIExpressPortService>? {
        _read { yield storage.portServices }
        _modify { yield &unique.portServices }
    }
    /// `/dev/vfio/devices/<vfioDeviceName>` exists in the source (the VFIO cdev interface,
    /// Linux ≥ 6.6 with CONFIG_VFIO_DEVICE_CDEV).
    public var hasVFIOCdev: Bool {
        _read { yield storage.hasVFIOCdev }
        _modify { yield &unique.hasVFIOCdev }
    }

    public init(
        address: PCIAddress, config: DecodedConfig, vendorID: UInt16? = nil, deviceID: UInt16? = nil,
        name: String? = nil, driver: String? = nil, iommuGroup: Int? = nil, parent: PCIAddress? = nil,
        numaNode: Int? = nil, isBootVGA: Bool = false, resetMethods: [ResetMethod]? = nil,
        physicalFunction: PCIAddress? = nil
    ) {
        storage = Storage(
            address: address, config: config, vendorID: vendorID ?? config.vendorID,
            deviceID: deviceID ?? config.deviceID)
        storage.name = name
        storage.driver = driver
        storage.iommuGroup = iommuGroup
        storage.parent = parent
        storage.numaNode = numaNode
        storage.isBootVGA = isBootVGA
        storage.resetMethods = resetMethods
        storage.physicalFunction = physicalFunction
    }

    /// `vvvv:dddd`, as lspci -n prints ids.
    public var ids: String { hex(vendorID, width: 4) + ":" + hex(deviceID, width: 4) }
    public var isBridge: Bool { config.isBridge }

    /// Part of a multifunction device as the kernel sees it (`pci_dev->multifunction`): the
    /// header's bit 7, and every function other than 0 that slot scanning finds
    /// (`pci_scan_slot()` sets it for fn > 0 whatever the function's own header says; QEMU's
    /// `addr=N.1` functions leave the bit clear). SR-IOV VFs are never multifunction.
    public var isMultifunction: Bool {
        guard physicalFunction == nil else { return false }
        return config.isMultifunction || address.function > 0
    }
    public var portType: PCIExpressCapability.PortType? { config.express?.portType }

    /// An AMD-Vi unit's own PCI function: class 08/06 (IOMMU) from AMD (1022) or Hygon
    /// (1d94). It does not translate its own requests; the kernel puts it in no group.
    public var isAMDIOMMUFunction: Bool { config.isIOMMU && (vendorID == 0x1022 || vendorID == 0x1d94) }
}

/// A service of the kernel's PCIe port driver, by the name of its service driver
/// (`pcie_port_service_driver.name` in drivers/pci/pcie/: aer.c, dpc.c, pme.c, pciehp_core.c,
/// bwctrl.c). The child device's number (`pcieNNN`) changed between kernels; the driver's name
/// did not, so that is what is read.
public enum PCIExpressPortService: String, Sendable, CaseIterable, Comparable {
    case aer
    case dpc
    case pme = "pcie_pme"
    case hotplug = "pciehp"
    case bandwidthControl = "pcie_bwctrl"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
