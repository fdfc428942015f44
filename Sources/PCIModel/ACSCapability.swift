/// ACS capability and control bits (PCIe base spec 7.7.8; kernel `PCI_ACS_*`).
public struct ACSFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let sourceValidation = ACSFlags(rawValue: 0x01)
    public static let translationBlocking = ACSFlags(rawValue: 0x02)
    public static let requestRedirect = ACSFlags(rawValue: 0x04)
    public static let completionRedirect = ACSFlags(rawValue: 0x08)
    public static let upstreamForwarding = ACSFlags(rawValue: 0x10)
    public static let egressControl = ACSFlags(rawValue: 0x20)
    public static let directTranslated = ACSFlags(rawValue: 0x40)

    /// What the kernel requires for IOMMU group isolation (`REQ_ACS_FLAGS` in drivers/iommu/iommu.c).
    public static let requiredForIsolation: ACSFlags = [
        .sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding,
    ]

    /// Short names in bit order, as lspci prints them (`SrcValid`, `ReqRedir`, …).
    public static let lspciNames: [(ACSFlags, String)] = [
        (.sourceValidation, "SrcValid"), (.translationBlocking, "TransBlk"), (.requestRedirect, "ReqRedir"),
        (.completionRedirect, "CmpltRedir"), (.upstreamForwarding, "UpstreamFwd"), (.egressControl, "EgressCtrl"),
        (.directTranslated, "DirectTrans"),
    ]

    /// Abbreviations used in vfioctl's messages: SV TB RR CR UF EC DT.
    public var shortNames: [String] {
        let names: [(ACSFlags, String)] = [
            (.sourceValidation, "SV"), (.translationBlocking, "TB"), (.requestRedirect, "RR"),
            (.completionRedirect, "CR"), (.upstreamForwarding, "UF"), (.egressControl, "EC"),
            (.directTranslated, "DT"),
        ]
        return names.filter { contains($0.0) }.map(\.1)
    }
}

/// Access Control Services extended capability (ID 0x000d).
public struct ACSCapability: Sendable, Equatable {
    public static let id: UInt16 = 0x000d
    public var offset: Int
    /// ACS Capability register (+0x04): what the function implements.
    public var capability: ACSFlags
    /// ACS Control register (+0x06): what is enabled now (the kernel enables bits at boot).
    public var control: ACSFlags
    /// The dword at +0x08 (the Egress Control Vector when implemented). Intel Sunrise Point
    /// PCH root ports keep their real ACS control word here (kernel `INTEL_SPT_ACS_CTRL`).
    public var dwordAt8: UInt32?

    init?(config: ConfigSpace, offset: Int) {
        guard let cap = config.u16(offset + 4), let ctl = config.u16(offset + 6) else { return nil }
        self.offset = offset
        capability = ACSFlags(rawValue: cap)
        control = ACSFlags(rawValue: ctl)
        dwordAt8 = config.u32(offset + 8)
    }

    public init(offset: Int, capability: ACSFlags, control: ACSFlags, dwordAt8: UInt32? = nil) {
        self.offset = offset
        self.capability = capability
        self.control = control
        self.dwordAt8 = dwordAt8
    }
}
