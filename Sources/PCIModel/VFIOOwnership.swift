/// Who holds a PCI function, as VFIO sees it: the one rule every part of vfioctl uses
/// (inspect, bind, the libvirt hook, vfio-aerd) instead of comparing driver names.
///
/// A function is VFIO-owned when it is bound to vfio-pci or to a vfio-pci variant driver
/// (mlx5_vfio_pci, pds_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci, virtio_vfio_pci…).
/// Every such driver registers its functions with the VFIO core, which creates
/// `/sys/…/DEVICE/vfio-dev/vfioN` (Documentation/ABI/testing/sysfs-devices-vfio-dev,
/// Linux ≥ 6.1): that directory, not the driver's name, is the evidence. Kernels before 6.1
/// have no `vfio-dev/`; there vfio-pci itself is recognised by name, the only VFIO driver
/// such a tree can be read as holding (variant drivers there are not recognised).
///
/// Group viability (`iommu_group_claim_dma_owner()`, Linux ≥ 5.19): every function of the
/// group must be VFIO-owned, unbound, or on a driver that manages its own DMA ownership
/// (`driver_managed_dma`: pci-stub for endpoints, pcieport for bridges).
public enum VFIOOwnership: Sendable, Equatable, CustomStringConvertible {
    /// Bound to a VFIO driver (vfio-pci or a variant); `node` is `vfioN` from `vfio-dev/`,
    /// nil on kernels before 6.1 (vfio-pci recognised by name).
    case vfio(driver: String, node: String?)
    /// pci-stub: claims the function so no host driver does; keeps the group viable, but
    /// a guest cannot be given it through VFIO until it is bound to a VFIO driver.
    case stub
    /// No driver bound.
    case unbound
    /// A host driver (e1000e, mlx5_core, nvidia, pcieport…).
    case host(driver: String)

    /// The one driver VFIO itself is: recognised by name only where `vfio-dev/` cannot exist.
    public static let vfioPCI = "vfio-pci"
    /// The stub driver with `driver_managed_dma` that keeps a group viable.
    public static let pciStub = "pci-stub"

    public init(driver: String?, vfioDeviceName: String?) {
        switch (driver, vfioDeviceName) {
        case (let driver?, let node?): self = .vfio(driver: driver, node: node)
        case (.some(Self.vfioPCI), nil): self = .vfio(driver: Self.vfioPCI, node: nil)
        case (.some(Self.pciStub), nil): self = .stub
        case (let driver?, nil): self = .host(driver: driver)
        case (nil, _): self = .unbound
        }
    }

    public var isVFIO: Bool { if case .vfio = self { true } else { false } }

    /// VFIO-owned, pci-stub or unbound: nothing on the host does DMA through it, so it does
    /// not stop its group from being viable.
    public var keepsGroupViable: Bool { if case .host = self { false } else { true } }

    /// "VFIO-owned by mlx5_vfio_pci (vfio-dev/vfio3)", "bound to e1000e", …
    public var description: String {
        switch self {
        case .vfio(let driver, let node?): "VFIO-owned by \(driver) (vfio-dev/\(node))"
        case .vfio(let driver, nil): "VFIO-owned by \(driver)"
        case .stub: "held by pci-stub"
        case .unbound: "unbound"
        case .host(let driver): "bound to host driver \(driver)"
        }
    }
}

extension PCIDevice {
    /// Who holds this function for VFIO: `driver` and `vfio-dev/` read together (see
    /// `VFIOOwnership`).
    public var vfioOwnership: VFIOOwnership { VFIOOwnership(driver: driver, vfioDeviceName: vfioDeviceName) }

    /// Bound to vfio-pci or a vfio-pci variant driver.
    public var isVFIOOwned: Bool { vfioOwnership.isVFIO }

    /// The VFIO cdev (`/dev/vfio/devices/vfioN`, Linux ≥ 6.6 with CONFIG_VFIO_DEVICE_CDEV,
    /// used with iommufd's `/dev/iommu`) when the source showed it; nil otherwise.
    public var vfioCdevPath: String? {
        guard hasVFIOCdev, let node = vfioDeviceName else { return nil }
        return "/dev/vfio/devices/\(node)"
    }

    /// Whether `name` is a VFIO device node's name under `vfio-dev/`: `vfio` and a decimal
    /// index (`vfio0`), as `vfio_device_set_name` makes it.
    public static func isVFIODeviceNodeName(_ name: String) -> Bool {
        let digits = name.utf8.dropFirst(4)
        return name.hasPrefix("vfio") && !digits.isEmpty && digits.count <= 10
            && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
