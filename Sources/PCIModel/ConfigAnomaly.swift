/// Something wrong or incomplete in a function's configuration space, found while decoding.
/// Decoders never trap on bad bytes; they report one of these and stop following the chain.
public struct ConfigAnomaly: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Only part of config space could be read (an unprivileged sysfs read gives 64 bytes).
        case truncated = "config-truncated"
        /// A capability pointer points outside the readable config space or into the header.
        case pointerOutOfRange = "capability-pointer-out-of-range"
        /// A capability list visits the same offset twice.
        case loop = "capability-loop"
        /// Vendor ID reads 0xffff or 0x0000: nothing answered at that address (or a VF).
        case noDevice = "no-device"
        /// A capability's registers extend past the readable config space.
        case capabilityTruncated = "capability-truncated"
        /// Bytes above 0x100 exist but cannot be extended capabilities (no PCIe capability,
        /// or they alias the header as on a conventional bus); they are not decoded.
        case extendedSpaceInvalid = "extended-space-invalid"
        /// A register holds a value the spec reserves (e.g. an unknown PCIe port type).
        case reservedValue = "reserved-value"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
