/// Advanced Error Reporting extended capability (ID 0x0001).
public struct AERCapability: Sendable, Equatable {
    public static let id: UInt16 = 0x0001
    public var offset: Int
    /// Uncorrectable Error Status (+0x04).
    public var uncorrectableStatus: UInt32?
    /// Correctable Error Status (+0x10).
    public var correctableStatus: UInt32?

    init(config: ConfigSpace, offset: Int) {
        self.offset = offset
        uncorrectableStatus = config.u32(offset + 0x04)
        correctableStatus = config.u32(offset + 0x10)
    }
}

/// Single Root I/O Virtualization extended capability (ID 0x0010, SR-IOV spec 1.1, 3.3).
public struct SRIOVCapability: Sendable, Equatable {
    public static let id: UInt16 = 0x0010
    public var offset: Int
    /// SR-IOV Control (+0x08) bit 0: VF Enable.
    public var vfEnabled: Bool
    /// InitialVFs (+0x0c).
    public var initialVFs: UInt16
    /// TotalVFs (+0x0e).
    public var totalVFs: UInt16
    /// NumVFs (+0x10).
    public var numVFs: UInt16
    /// First VF Offset (+0x14): routing-ID distance from the PF to VF 1.
    public var firstVFOffset: UInt16
    /// VF Stride (+0x16).
    public var vfStride: UInt16
    /// VF Device ID (+0x1a).
    public var vfDeviceID: UInt16

    init?(config: ConfigSpace, offset: Int) {
        guard let control = config.u16(offset + 0x08), let initial = config.u16(offset + 0x0c),
            let total = config.u16(offset + 0x0e), let num = config.u16(offset + 0x10),
            let first = config.u16(offset + 0x14), let stride = config.u16(offset + 0x16),
            let vfDevice = config.u16(offset + 0x1a)
        else { return nil }
        self.offset = offset
        vfEnabled = control & 1 != 0
        initialVFs = initial
        totalVFs = total
        numVFs = num
        firstVFOffset = first
        vfStride = stride
        vfDeviceID = vfDevice
    }
}

/// Alternative Routing-ID Interpretation extended capability (ID 0x000e).
public struct ARICapability: Sendable, Equatable {
    public static let id: UInt16 = 0x000e
    public var offset: Int
    /// ARI Capability (+0x04) bits 15:8: the next function number in the chain.
    public var nextFunction: UInt8

    init?(config: ConfigSpace, offset: Int) {
        guard let cap = config.u16(offset + 4) else { return nil }
        self.offset = offset
        nextFunction = UInt8(cap >> 8)
    }
}

/// Device Serial Number extended capability (ID 0x0003): a 64-bit EUI-64.
public struct SerialNumberCapability: Sendable, Equatable {
    public static let id: UInt16 = 0x0003
    public var offset: Int
    /// Lower dword at +0x04, upper at +0x08.
    public var serialNumber: UInt64

    init?(config: ConfigSpace, offset: Int) {
        guard let low = config.u32(offset + 4), let high = config.u32(offset + 8) else { return nil }
        self.offset = offset
        serialNumber = UInt64(high) << 32 | UInt64(low)
    }
}
