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
            let format = AMDPageTableFormat(commandLine: commandLine, unit: amd)
            guard let pageSizes = amd.pageSizes else {
                available = false
                sizes = []
                reason =
                    "AMD-Vi unit whose features (EFR) were not readable: its page tables are unknown; run dma-check"
                return
            }
            sizes = pageSizes.filter { $0 > 4 << 10 }
            available = !sizes.isEmpty
            reason = "2M and 1G IOMMU pages in AMD-Vi's \(format.rawValue) page tables (\(format.why))"
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
