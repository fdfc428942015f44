/// One PCI function as vfioctl knows it: decoded config space plus what sysfs says about it.
public struct PCIDevice: Sendable {
    public var address: PCIAddress
    public var config: DecodedConfig
    /// `vendor`/`device` from sysfs where they differ from config space (a VF reads 0xffff there).
    public var vendorID: UInt16
    public var deviceID: UInt16
    /// Vendor and device name from pci.ids (libpci), nil when unknown.
    public var name: String?
    /// The driver bound now: the last component of the `driver` symlink; nil when unbound.
    public var driver: String?
    /// The kernel's group: the last component of the `iommu_group` symlink; nil when none.
    public var iommuGroup: Int?
    /// The bridge whose secondary bus this function sits on; nil on a root bus.
    public var parent: PCIAddress?
    /// `numa_node`; nil when unknown or -1.
    public var numaNode: Int?
    /// `boot_vga` reads 1: firmware's console display device.
    public var isBootVGA: Bool
    /// `reset_method` (kernel ≥ 5.15), in the kernel's order; nil when the file is absent.
    public var resetMethods: [ResetMethod]?
    /// `physfn` of an SR-IOV virtual function.
    public var physicalFunction: PCIAddress?
    /// The VFIO device node's name under `vfio-dev/` (`vfio0`; kernel ≥ 6.1 with vfio-pci or
    /// a vfio-pci variant driver bound), whose character device is `/dev/vfio/devices/vfio0`
    /// when the kernel has VFIO_DEVICE_CDEV. nil when the directory is absent. See
    /// `VFIOOwnership`.
    public var vfioDeviceName: String?
    /// The PCIe port services the kernel's port driver bound on this port: the children
    /// `ADDR:pcieNNN` of the port's sysfs directory, each named by its `driver` link
    /// (drivers/pci/pcie/portdrv.c). nil when the source cannot tell (not a port, an lspci dump).
    public var portServices: Set<PCIExpressPortService>?
    /// `/dev/vfio/devices/<vfioDeviceName>` exists in the source (the VFIO cdev interface,
    /// Linux ≥ 6.6 with CONFIG_VFIO_DEVICE_CDEV).
    public var hasVFIOCdev: Bool = false

    public init(
        address: PCIAddress, config: DecodedConfig, vendorID: UInt16? = nil, deviceID: UInt16? = nil,
        name: String? = nil, driver: String? = nil, iommuGroup: Int? = nil, parent: PCIAddress? = nil,
        numaNode: Int? = nil, isBootVGA: Bool = false, resetMethods: [ResetMethod]? = nil,
        physicalFunction: PCIAddress? = nil
    ) {
        self.address = address
        self.config = config
        self.vendorID = vendorID ?? config.vendorID
        self.deviceID = deviceID ?? config.deviceID
        self.name = name
        self.driver = driver
        self.iommuGroup = iommuGroup
        self.parent = parent
        self.numaNode = numaNode
        self.isBootVGA = isBootVGA
        self.resetMethods = resetMethods
        self.physicalFunction = physicalFunction
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
