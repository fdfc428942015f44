/// The bytes of one function's configuration space, as far as they could be read:
/// 64 bytes for an unprivileged sysfs read, 256 for conventional PCI, 4096 for PCIe.
///
/// Accessors return nil past the readable length instead of trapping, so decoders can
/// report a truncated or malformed capability chain rather than crash.
public struct ConfigSpace: Sendable, Equatable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes.count > 4096 ? Array(bytes.prefix(4096)) : bytes
    }

    public var count: Int { bytes.count }

    public func u8(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    /// Little-endian 16-bit register at `offset`.
    public func u16(_ offset: Int) -> UInt16? {
        guard offset >= 0, offset + 2 <= bytes.count else { return nil }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    /// Little-endian 32-bit register at `offset`.
    public func u32(_ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}

/// Offsets and bits of the type 0/1 configuration header (PCI Local Bus spec 3.0, 6.1).
public enum ConfigRegister {
    public static let vendorID = 0x00
    public static let deviceID = 0x02
    public static let command = 0x04
    public static let status = 0x06
    public static let revision = 0x08
    public static let classCode = 0x09
    public static let headerType = 0x0e
    public static let subsystemVendorID = 0x2c
    public static let subsystemID = 0x2e
    public static let capabilitiesPointer = 0x34
    public static let cardbusCapabilitiesPointer = 0x14
    public static let primaryBus = 0x18
    public static let secondaryBus = 0x19
    public static let subordinateBus = 0x1a
    /// Status register bit 4: the function has a capability list.
    public static let statusCapabilityList: UInt16 = 1 << 4
    /// First extended capability header (PCIe base spec 7.6).
    public static let extendedCapabilitiesStart = 0x100
}
