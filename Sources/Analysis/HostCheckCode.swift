extension HostCheck {
    /// The stable code of a host-wide check: `hostChecks[].code` in `inspect --json`, the
    /// word after the status in the text output. Raw values are the spellings the JSON has
    /// always had.
    public enum Code: String, Sendable, CaseIterable, CustomStringConvertible {
        /// ACPI DMAR (Intel VT-d) or IVRS (AMD-Vi) table present: the IOMMU is on in firmware.
        case iommuFirmware = "iommu-firmware"
        /// The kernel formed IOMMU groups (`/sys/kernel/iommu_groups`).
        case iommuEnabled = "iommu-enabled"
        /// Every DMAR unit has IR (ECAP bit 3, `/sys/class/iommu/dmar*/intel-iommu/ecap`).
        case interruptRemapping = "interrupt-remapping"
        /// The IOMMU maps 2M/1G pages (CAP.SLLPS) and the kernel uses them.
        case iommuSuperpages = "iommu-superpages"
        /// `iommu=pt` on the kernel command line.
        case iommuPassthrough = "iommu-passthrough"
        /// `intel_iommu=off` or `amd_iommu=off` on the kernel command line.
        case iommuCmdline = "iommu-cmdline"
        /// `pcie_acs_override=` (an out-of-tree patch) on the kernel command line.
        case acsOverride = "acs-override"
        /// `pci=noaer` on the kernel command line.
        case aerDisabled = "aer-disabled"
        /// vfio-pci loaded, built in or available as a module.
        case vfioModules = "vfio-modules"
        /// `allow_unsafe_interrupts` of vfio_iommu_type1 and iommufd
        /// (`/sys/module/NAME/parameters/allow_unsafe_interrupts`): `Y` fails, with the
        /// interrupt remapping state beside it.
        case unsafeInterrupts = "unsafe-interrupts"
        /// Which VFIO user interfaces the host offers: the group interface (`/dev/vfio/vfio`,
        /// `/dev/vfio/N`) and the cdev interface (`/dev/iommu`, `/dev/vfio/devices/vfioN`).
        case vfioInterfaces = "vfio-interfaces"

        /// The raw value, so interpolating a code prints what the JSON prints.
        public var description: String { rawValue }
    }
}
