/// The stable code of a `Reason`: what `inspect --json` prints as `code`, what the text
/// output prefixes a reason with, and what the libvirt hook (GuestAssessment) keys its
/// refusals on. Raw values are the spellings the JSON has always had.
public enum ReasonCode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// A PCI bridge: stays with the host on pcieport.
    case bridge
    /// The AMD-Vi unit itself (class 0806), in no group.
    case iommuUnit = "iommu-unit"
    /// An SR-IOV virtual function (`physfn` link).
    case sriovVF = "sriov-vf"
    /// VFIO-owned now: bound to vfio-pci or a vfio-pci variant driver (`vfio-dev/vfioN`).
    case vfioBound = "vfio-bound"
    /// Bound to a host driver now; managed='yes' moves it at guest start.
    case hostDriver = "host-driver"
    /// The running kernel has no vfio-pci (host check `vfio-modules` failed).
    case vfioMissing = "vfio-missing"
    /// DMAR units without interrupt remapping (host check `interrupt-remapping` warned).
    case noInterruptRemapping = "no-interrupt-remapping"
    /// Config space shorter than 4 KiB (not root): ACS, reset and SR-IOV cannot be judged.
    case configTruncated = "config-truncated"
    /// A VF's config space reads vendor 0xffff, as SR-IOV specifies.
    case vfConfig = "vf-config"
    /// Anything else odd in config space (a capability list that loops, a bad pointer).
    case configAnomaly = "config-anomaly"
    /// No kernel IOMMU groups in this source: the group is predicted.
    case groupsPredicted = "groups-predicted"
    /// The kernel formed no IOMMU groups: the IOMMU is off.
    case iommuOff = "iommu-off"
    /// The function has no `iommu_group` link while others do.
    case noIOMMUGroup = "no-iommu-group"
    /// The kernel's group differs from the one predicted from config space.
    case groupPredictionDiffers = "group-prediction-differs"
    /// The group holds other endpoints.
    case groupShared = "group-shared"
    /// Group members are bound to host drivers.
    case groupMemberDriver = "group-member-driver"
    /// The group holds what the host runs on (root disk, default route…).
    case hostDependency = "host-dependency"
    /// Behind a PCIe-to-PCI bridge that issues DMA with its own requester ID.
    case dmaAlias = "dma-alias"
    /// An upstream bridge fails the kernel's ACS test (`pci_acs_path_enabled`).
    case acsMissing = "acs-missing"
    /// A multifunction sibling without ACS may reach it peer-to-peer.
    case multifunctionNoACS = "multifunction-no-acs"
    /// No FLR, no PM reset, no bus reset of its own.
    case noReset = "no-reset"
    /// Reset only by secondary bus reset of the parent bridge.
    case resetBusOnly = "reset-bus-only"
    /// An uncorrectable error here is contained by DPC at a port above: the link goes down
    /// and every function below that port is reset and recovered.
    case dpcContainment = "dpc-containment"
    /// A DPC port above has triggered and holds its link down now.
    case dpcTriggered = "dpc-triggered"
    /// A firmware framebuffer (BOOTFB/simpledrm/efifb/vesafb) holds memory in the function's
    /// BARs: vfio-pci cannot reserve them.
    case firmwareFramebuffer = "firmware-framebuffer"
    /// The host allows unsafe interrupts (host check `unsafe-interrupts` failed).
    case unsafeInterrupts = "unsafe-interrupts"
    /// The group's default domain (`kernel/iommu_groups/N/type`) is not DMA/DMA-FQ.
    case iommuGroupType = "iommu-group-type"
    /// An unconditional `block` or `warn` quirk from the quirk database.
    case quirk

    /// The raw value, so interpolating a code prints what the JSON prints.
    public var description: String { rawValue }
}
