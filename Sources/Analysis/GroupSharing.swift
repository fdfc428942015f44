import PCIModel

/// Whether a function would have its IOMMU group to itself as a guest sees it.
public enum GroupSharing {
    /// A function a guest could be given: not a bridge of any kind (PCI base class 06: host,
    /// ISA and PCI-to-PCI bridges stay with the host).
    public static func isGuestCandidate(_ device: PCIDevice) -> Bool {
        !device.isBridge && device.config.baseClass != 0x06
    }

    /// True when no other endpoint shares `group` with `address`, except functions of its own
    /// card (the same slot below a bridge: they go to the guest together). Bridges in the group
    /// do not count, as vfio-pci leaves them to the host. Root-bus slots are the chipset's, not
    /// one card, so a root-bus function with any other endpoint in its group is not alone.
    public static func isAlone(_ address: PCIAddress, in group: [PCIAddress], model: HostModel) -> Bool {
        let others = group.filter { $0 != address && model[$0]?.isBridge != true }
        guard !others.isEmpty else { return true }
        guard model[address]?.parent != nil else { return false }
        return others.allSatisfy { $0.slot == address.slot }
    }
}
