import PCIModel

/// Whether an IOMMU unit will map guest memory with large pages, and why.
public struct LargePageVerdict: Sendable, Equatable {
    public var available: Bool
    /// Superpage sizes the unit advertises (bytes).
    public var sizes: [UInt64]
    public var reason: String

    /// `intel_iommu=…,sp_off` turns superpages off; without SLLPS bits there are none.
    public init(unit: IOMMUUnit, commandLine: [String]) {
        let spOff = commandLine.contains { word in
            word.hasPrefix("intel_iommu=")
                && word.dropFirst("intel_iommu=".count).split(separator: ",").contains("sp_off")
        }
        if let amd = unit.amd {
            sizes = AMDIOMMUFeatures.pageSizes.filter { $0 > 4 << 10 }
            available = true
            let format = AMDPageTableFormat(commandLine: commandLine)
            reason =
                "2M and 1G IOMMU pages in AMD-Vi's \(format.rawValue) page tables (\(format.why))"
                + (amd.extendedFeatures == nil ? "; the EFR was not readable, so levels and features are unknown" : "")
            return
        }
        guard let intel = unit.intel else {
            available = false
            sizes = []
            reason =
                unit.kind == .amd
                ? "AMD-Vi unit whose amd-iommu/cap was not readable: page sizes come from VFIO (iova_pgsizes); run dma-check"
                : "unknown IOMMU"
            return
        }
        sizes = intel.superpageSizes
        if sizes.isEmpty {
            available = false
            reason = "the unit has no second-level superpages (SLLPS 0): mappings use 4 KiB pages"
        } else if spOff {
            available = false
            reason = "intel_iommu=sp_off on the command line turns superpages off"
        } else {
            available = true
            let names = sizes.map(IntelIOMMUCapability.sizeName).joined(separator: " and ")
            reason = "\(names) IOMMU pages for guests whose memory is backed by hugepages of that size"
        }
    }
}

/// Which page-table format AMD-Vi uses for DMA domains: `amd_iommu=pgtbl_v2` selects v2
/// (x86 format, needs EFR GTSup); otherwise v1, the kernel's default. sysfs does not show it.
public enum AMDPageTableFormat: String, Sendable {
    case v1, v2

    public init(commandLine: [String]) {
        let v2 = commandLine.contains { word in
            word.hasPrefix("amd_iommu=")
                && word.dropFirst("amd_iommu=".count).split(separator: ",").contains("pgtbl_v2")
        }
        self = v2 ? .v2 : .v1
    }

    public var why: String {
        switch self {
        case .v1: "the default: no amd_iommu=pgtbl_v2 on the command line"
        case .v2: "amd_iommu=pgtbl_v2 on the command line"
        }
    }
}
