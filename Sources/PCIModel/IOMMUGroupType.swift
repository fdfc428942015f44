/// `/sys/kernel/iommu_groups/N/type` (Linux ≥ 5.2; writable since 5.11,
/// Documentation/ABI/testing/sysfs-kernel-iommu_groups): the type of the group's *default*
/// domain, the one host drivers' DMA goes through. The kernel prints it from
/// `iommu_group_show_type()`; `auto` is a value one writes, never one read back.
///
/// What it means for assignment: nothing blocks it. When VFIO takes a group
/// (`iommu_group_claim_dma_owner()`, then VFIO_GROUP_SET_CONTAINER or an iommufd attach) it
/// attaches a domain of its own (blocking first, then an unmanaged, translated one built
/// from the guest's memory map), so the guest is isolated whatever this file says; the
/// file keeps showing the default domain all along. What the type does tell is how the
/// group's DMA is handled while *host* drivers hold it.
public enum IOMMUGroupType: String, Sendable, CaseIterable {
    /// Translated by the IOMMU (strict invalidation).
    case dma = "DMA"
    /// Translated, with batched (lazy) IOTLB invalidation (Linux ≥ 5.15).
    case dmaFQ = "DMA-FQ"
    /// Passthrough: host drivers' DMA is not translated (`iommu=pt`, or written).
    case identity
    /// All DMA blocked (a default domain that refuses DMA).
    case blocked
    /// A domain not managed by the DMA API (seen on some platforms as the default).
    case unmanaged
    /// The kernel's text when the group has no default domain at all.
    case unknown

    /// The text read from `type` (without its newline); nil for anything the kernel does not print.
    public init?(sysfs text: String) { self.init(rawValue: text) }

    /// What the type means while the host holds the group, and that VFIO replaces it.
    public var meaning: String {
        switch self {
        case .dma, .dmaFQ:
            "host drivers' DMA is translated; VFIO attaches its own domain when it takes the group"
        case .identity:
            "passthrough: host drivers' DMA is NOT translated while the host holds the group (iommu=pt); VFIO still attaches its own translated domain when it takes the group, so a guest is isolated"
        case .blocked:
            "the default domain blocks all DMA; VFIO attaches its own domain when it takes the group"
        case .unmanaged:
            "an unmanaged default domain; VFIO attaches its own domain when it takes the group"
        case .unknown:
            "the group has no default domain; VFIO still needs to attach one of its own"
        }
    }
}

/// `allow_unsafe_interrupts` of the VFIO IOMMU back ends, read from
/// `/sys/module/MODULE/parameters/allow_unsafe_interrupts` (a bool parameter: `Y` or `N`).
/// `Y` lets VFIO accept a group whose IOMMU cannot remap interrupts: a guest can then make
/// its device write to the MSI address window and inject interrupts into the host.
public enum VFIOIOMMUBackend: String, Sendable, CaseIterable {
    /// The VFIO container's type1 IOMMU driver (`/dev/vfio/vfio`).
    case type1 = "vfio_iommu_type1"
    /// iommufd (`/dev/iommu`, Linux ≥ 6.2), which has the same parameter.
    case iommufd
}
