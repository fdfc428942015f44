/// Intel VT-d remapping unit capabilities, decoded from the Capability (`cap`) and Extended
/// Capability (`ecap`) registers that sysfs shows in `class/iommu/dmarN/intel-iommu/`
/// (Intel VT-d specification, 11.4.2 and 11.4.3).
public struct IntelIOMMUCapability: Sendable, Equatable {
    public var capability: UInt64
    public var extendedCapability: UInt64

    public init(capability: UInt64, extendedCapability: UInt64) {
        self.capability = capability
        self.extendedCapability = extendedCapability
    }

    /// Second-level large page sizes (SLLPS, cap bits 37:34): 2 MiB, 1 GiB, 512 GiB, 1 TiB.
    public var superpageSizes: [UInt64] {
        let bits = (capability >> 34) & 0xf
        let sizes: [UInt64] = [2 << 20, 1 << 30, 512 << 30, 1 << 40]
        return sizes.enumerated().filter { bits & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }

    /// Maximum guest address width (MGAW, cap bits 21:16, plus one).
    public var maximumGuestAddressWidth: Int { Int((capability >> 16) & 0x3f) + 1 }

    /// Page-table depths the unit supports (SAGAW, cap bits 12:8): bit 1 = 4-level/48-bit
    /// … as (levels, address bits).
    public var supportedAddressWidths: [Int] {
        let sagaw = (capability >> 8) & 0x1f
        return [(1, 39), (2, 48), (3, 57)].filter { sagaw & (1 << UInt64($0.0)) != 0 }.map(\.1)
    }

    /// Caching Mode (cap bit 7): set on emulated IOMMUs (QEMU), which need invalidations
    /// even for not-present entries.
    public var cachingMode: Bool { capability & (1 << 7) != 0 }
    /// Snoop Control (ecap bit 7).
    public var snoopControl: Bool { extendedCapability & (1 << 7) != 0 }
    /// Pass Through (ecap bit 6): hardware identity mapping for `iommu=pt`.
    public var passThrough: Bool { extendedCapability & (1 << 6) != 0 }
    /// Interrupt Remapping (ecap bit 3).
    public var interruptRemapping: Bool { extendedCapability & (1 << 3) != 0 }
    /// Queued Invalidation (ecap bit 1).
    public var queuedInvalidation: Bool { extendedCapability & (1 << 1) != 0 }

    /// "2M", "1G", "512G", "1T".
    public static func sizeName(_ bytes: UInt64) -> String {
        switch bytes {
        case 1 << 40: "1T"
        case 512 << 30: "512G"
        case 1 << 30: "1G"
        case 2 << 20: "2M"
        case 4 << 10: "4K"
        default: "\(bytes)B"
        }
    }
}
