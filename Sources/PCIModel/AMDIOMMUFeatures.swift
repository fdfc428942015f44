/// An AMD-Vi unit as sysfs shows it in `class/iommu/ivhdN/amd-iommu/`: `cap` is the IOMMU's
/// PCI Capability Header (AMD IOMMU specification, "IOMMU Capability Header", offset 00h of
/// the IOMMU capability block) and `features` the Extended Feature Register (MMIO 0030h) with
/// EFR2 (MMIO 01A0h), in an order that depends on the kernel (`FeaturesOrder`).
///
/// What sysfs does not show: which page-table format the kernel uses for DMA domains (it
/// follows `amd_iommu=pgtbl_v2` and GTSup, see `AMDPageTableFormat`) and so, for certain, the
/// page sizes VFIO will map with; those come from VFIO's `iova_pgsizes` (`vfioctl dma-check`).
public struct AMDIOMMUFeatures: Sendable, Equatable {
    /// `cap`: the 32-bit capability header.
    public var capabilityHeader: UInt32
    /// EFR, from `features`; nil when it was not readable.
    public var extendedFeatures: UInt64?
    /// EFR2, from `features`; nil on kernels that print only EFR.
    public var extendedFeatures2: UInt64?

    public init(capabilityHeader: UInt32, extendedFeatures: UInt64?, extendedFeatures2: UInt64? = nil) {
        self.capabilityHeader = capabilityHeader
        self.extendedFeatures = extendedFeatures
        self.extendedFeatures2 = extendedFeatures2
    }

    /// The order of the two numbers in `features`. Linux 6.1 (seen in the lab) prints
    /// `EFR2:EFR`, from each unit's own copy; from Linux 6.7 ("iommu/amd: Consolidate feature
    /// detection and reporting logic") it prints the kernel's global `EFR:EFR2` (6.12 seen in
    /// the lab). Before EFR2 support it printed a bare EFR.
    public enum FeaturesOrder: Sendable {
        case efr2First, efrFirst

        /// From `kernel/osrelease` (`6.12.117+deb12-amd64`); the current order when unknown.
        public init(kernelRelease: String?) {
            guard let version = kernelRelease.flatMap(KernelVersion.init(release:)) else {
                self = .efrFirst
                return
            }
            self = version < KernelVersion(6, 7) ? .efr2First : .efrFirst
        }
    }

    /// Parses `features` text: `A:B` (hexadecimal) or a bare EFR. nil when malformed. When one
    /// of A and B is 0 and the other is not, the other is EFR whatever `order` says: a unit
    /// with EFRSup has feature bits set, and EFR2 is 0 on most parts. That keeps distribution
    /// kernels whose version says nothing of backports right. Otherwise `order` decides.
    public static func parseFeatures(_ text: String, order: FeaturesOrder = .efrFirst) -> (
        efr: UInt64, efr2: UInt64?
    )? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let first = parseHex(parts[0]) else { return nil }
        guard parts.count == 2 else { return (first, nil) }
        guard let second = parseHex(parts[1]) else { return nil }
        if first == 0, second != 0 { return (second, first) }
        if second == 0, first != 0 { return (first, second) }
        return order == .efrFirst ? (first, second) : (second, first)
    }

    /// Capability header bit 24 (IotlbSup): remote IOTLBs (ATS) supported.
    public var iotlbSupported: Bool { capabilityHeader & (1 << 24) != 0 }
    /// Capability header bit 27 (EFRSup): the Extended Feature Register is implemented.
    public var extendedFeaturesSupported: Bool { capabilityHeader & (1 << 27) != 0 }

    /// EFR feature bits by the names the kernel logs ("AMD-Vi: Extended features …: PreF PPR …").
    public var featureNames: [String] {
        guard let efr = extendedFeatures else { return [] }
        let names: [(Int, String)] = [
            (0, "PreF"), (1, "PPR"), (2, "X2APIC"), (3, "NX"), (4, "GT"), (6, "IA"), (7, "GA"), (8, "HE"), (9, "PC"),
        ]
        return names.filter { efr & (1 << UInt64($0.0)) != 0 }.map(\.1)
    }

    /// Host page-table levels (EFR HATS, bits 11:10: 00b 4 levels, 01b 5, 10b 6; 11b reserved).
    public var hostPageTableLevels: Int? {
        guard let efr = extendedFeatures else { return nil }
        let hats = Int((efr >> 10) & 0x3)
        return hats == 3 ? nil : 4 + hats
    }

    /// Guest page-table levels for the v2 format (EFR GATS, bits 13:12): 5 when GATS is 01b,
    /// otherwise 4, as Linux reads it (`GUEST_PGTABLE_5_LEVEL`). nil without GTSup.
    public var guestPageTableLevels: Int? {
        guard let efr = extendedFeatures, guestTranslation else { return nil }
        return (efr >> 12) & 0x3 == 1 ? 5 : 4
    }

    /// EFR bit 4 (GTSup): guest (v2, x86-format) page tables, usable with `amd_iommu=pgtbl_v2`.
    public var guestTranslation: Bool { (extendedFeatures ?? 0) & (1 << 4) != 0 }
    /// EFR bit 2 (XTSup): x2APIC interrupt remapping.
    public var x2apic: Bool { (extendedFeatures ?? 0) & (1 << 2) != 0 }
    /// EFR bit 6 (IASup): INVALIDATE_IOMMU_ALL command.
    public var invalidateAll: Bool { (extendedFeatures ?? 0) & (1 << 6) != 0 }

    /// Page sizes guests use that the unit's tables map: 4K, 2M and 1G in either format (v2
    /// as x86 page tables do; v1 maps any power of two from 4 KiB, its "next level" field
    /// skipping levels). nil when the EFR was not readable: then the unit's tables are unknown.
    public var pageSizes: [UInt64]? {
        extendedFeatures == nil ? nil : [4 << 10, 2 << 20, 1 << 30]
    }
}

/// Which page-table format AMD-Vi uses for DMA domains: v2 (x86 format) when the command line
/// has `amd_iommu=pgtbl_v2` and the unit has GTSup, else v1, the kernel's default and its
/// fallback. sysfs does not show it.
public struct AMDPageTableFormat: Sendable, Equatable {
    public enum Format: String, Sendable { case v1, v2 }
    public var format: Format
    /// Why, in words.
    public var why: String

    public init(commandLine: [String], unit: AMDIOMMUFeatures?) {
        let asked = commandLine.contains { word in
            word.hasPrefix("amd_iommu=")
                && word.dropFirst("amd_iommu=".count).split(separator: ",").contains("pgtbl_v2")
        }
        switch (asked, unit?.guestTranslation) {
        case (false, _):
            (format, why) = (.v1, "the default: no amd_iommu=pgtbl_v2 on the command line")
        case (true, true?):
            (format, why) = (.v2, "amd_iommu=pgtbl_v2 on the command line and the unit has GTSup")
        case (true, false?):
            (format, why) = (
                .v1, "amd_iommu=pgtbl_v2 is on the command line, but the unit lacks GTSup: the kernel keeps v1"
            )
        case (true, nil):
            (format, why) = (
                .v2, "amd_iommu=pgtbl_v2 on the command line; GTSup unknown (EFR not readable), v1 if it is missing"
            )
        }
    }

    public var rawValue: String { format.rawValue }
}
