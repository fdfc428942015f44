/// PCI Power Management capability (capability ID 0x01, PCI PM spec 1.2).
public struct PowerManagementCapability: Sendable, Equatable {
    public static let id: UInt8 = 0x01
    public var offset: Int
    /// PMCSR (+0x04) bit 3, No_Soft_Reset: set means a D3hot→D0 transition does *not* reset
    /// the function, so the kernel cannot use the "pm" reset method.
    public var noSoftReset: Bool

    init?(config: ConfigSpace, offset: Int) {
        guard let pmcsr = config.u16(offset + 4) else { return nil }
        self.offset = offset
        noSoftReset = pmcsr & (1 << 3) != 0
    }
}

/// MSI capability (capability ID 0x05).
public struct MSICapability: Sendable, Equatable {
    public static let id: UInt8 = 0x05
    public var offset: Int
    public var enabled: Bool
    public var is64Bit: Bool
    public var perVectorMasking: Bool
    /// Multiple Message Capable: vectors the function can request (1, 2, 4, … 32).
    public var vectorsCapable: Int

    init?(config: ConfigSpace, offset: Int) {
        guard let control = config.u16(offset + 2) else { return nil }
        self.offset = offset
        enabled = control & 1 != 0
        is64Bit = control & (1 << 7) != 0
        perVectorMasking = control & (1 << 8) != 0
        vectorsCapable = 1 << Int(min((control >> 1) & 7, 5))
    }
}

/// MSI-X capability (capability ID 0x11).
public struct MSIXCapability: Sendable, Equatable {
    public static let id: UInt8 = 0x11
    public var offset: Int
    public var enabled: Bool
    /// Table Size field + 1.
    public var tableSize: Int

    init?(config: ConfigSpace, offset: Int) {
        guard let control = config.u16(offset + 2) else { return nil }
        self.offset = offset
        enabled = control & (1 << 15) != 0
        tableSize = Int(control & 0x7ff) + 1
    }
}

/// Advanced Features capability (capability ID 0x13): FLR for conventional PCI functions.
public struct AdvancedFeaturesCapability: Sendable, Equatable {
    public static let id: UInt8 = 0x13
    public var offset: Int
    /// AF Capabilities (+0x03) bit 1: FLR; bit 0: Transactions Pending.
    public var supportsFLR: Bool

    init?(config: ConfigSpace, offset: Int) {
        guard let caps = config.u8(offset + 3) else { return nil }
        self.offset = offset
        supportsFLR = caps & 0x2 != 0 && caps & 0x1 != 0
    }
}
