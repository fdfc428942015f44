import Analysis
import PCIModel

/// A device model across hosts: vendor:device and, when the function has them, the
/// subsystem ids (config +0x2c/+0x2e), which tell apart one chip on different cards.
public struct DeviceModel: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `vvvv:dddd`.
    public var ids: String
    /// `ssss:ssss` (subsystem vendor:device), nil for bridges and functions without one.
    public var subsystem: String?

    public init(_ device: PCIDevice) {
        ids = device.ids
        subsystem = device.config.subsystemVendorID.flatMap { vendor in
            device.config.subsystemID.map { hex(vendor, width: 4) + ":" + hex($0, width: 4) }
        }
    }

    /// Functions a fleet report compares: everything but bridges and the chipset's other
    /// base-class 0x06 functions (host bridges, ISA bridges), which are never assigned.
    public static func isCompared(_ device: PCIDevice) -> Bool {
        GroupSharing.isGuestCandidate(device)
    }

    /// `8086:10c9 [1043:8367]`.
    public var description: String { ids + (subsystem.map { " [\($0)]" } ?? "") }

    public static func < (lhs: DeviceModel, rhs: DeviceModel) -> Bool {
        (lhs.ids, lhs.subsystem ?? "") < (rhs.ids, rhs.subsystem ?? "")
    }
}
