import PCIModel

/// One AER occurrence on one PCI function, as the kernel reported it or as a counter moved.
public struct AEREvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `ERROR_EVENT=BEGIN_RECOVERY`: the kernel starts recovering the device.
        case beginRecovery = "begin-recovery"
        /// `ERROR_EVENT=SUCCESSFUL_RECOVERY` (with `DEVICE_ONLINE=1`).
        case successfulRecovery = "successful-recovery"
        /// `ERROR_EVENT=FAILED_RECOVERY`.
        case failedRecovery = "failed-recovery"
        /// `aer_dev_fatal` moved without an event.
        case fatal
        /// `aer_dev_nonfatal` moved without an event.
        case nonFatal = "nonfatal"
        /// `aer_dev_correctable` moved.
        case correctable
    }

    public enum Source: String, Sendable, CaseIterable { case uevent, counter, injected }

    public var time: Double
    public var device: PCIAddress
    public var kind: Kind
    /// `DEVICE_ONLINE` when the event carried it.
    public var deviceOnline: Bool?
    /// How many errors a counter event stands for.
    public var count: Int
    public var source: Source

    public init(time: Double, device: PCIAddress, kind: Kind, deviceOnline: Bool? = nil, count: Int = 1, source: Source)
    {
        self.time = time
        self.device = device
        self.kind = kind
        self.deviceOnline = deviceOnline
        self.count = count
        self.source = source
    }

    /// Events after which the owning guest must go down.
    public var takesGuestDown: Bool { kind == .beginRecovery || kind == .failedRecovery || kind == .fatal }
    /// The device is back: its guest may start again.
    public var deviceRecovered: Bool { kind == .successfulRecovery && deviceOnline != false }

    /// An event no source may produce: a count outside 1…`AERLimits.maxEventCount` or a time
    /// that is not a number. The watchdog poisons it instead of acting on it.
    public struct OutOfBounds: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Throws when a number of the event is out of its bounds (see `OutOfBounds`).
    public func checkBounds() throws(OutOfBounds) {
        guard count >= 1, count <= AERLimits.maxEventCount else {
            throw OutOfBounds(
                description:
                    "\(kind.rawValue) on \(device): count \(count) is outside 1...\(AERLimits.maxEventCount) (AERLimits.maxEventCount)"
            )
        }
        guard time.isFinite else {
            throw OutOfBounds(description: "\(kind.rawValue) on \(device): time \(time) is not a number of seconds")
        }
    }
}

/// Properties of one uevent as read from udev or an injected message: the values that could be
/// read, and the keys whose value could not (not UTF-8, or longer than
/// `AERLimits.maxPropertyValueBytes`) with the reason. An event that needs an unreadable
/// property is rejected; one it does not need is ignored.
public struct UeventProperties: Sendable, Equatable {
    public var values: [String: String]
    public var unreadable: [String: String]

    public init(values: [String: String] = [:], unreadable: [String: String] = [:]) {
        self.values = values
        self.unreadable = unreadable
    }

    /// Adds one property from raw bytes; a key that is not UTF-8 cannot be one vfio-aerd reads
    /// and is dropped.
    public mutating func add(key: some Collection<UInt8>, value: some Collection<UInt8>) {
        guard let name = String(validating: key, as: UTF8.self), !name.isEmpty else { return }
        if value.count > AERLimits.maxPropertyValueBytes {
            unreadable[name] =
                "value of \(value.count) bytes is longer than \(AERLimits.maxPropertyValueBytes) (AERLimits.maxPropertyValueBytes)"
            values[name] = nil
        } else if let text = String(validating: value, as: UTF8.self) {
            values[name] = text
            unreadable[name] = nil
        } else {
            unreadable[name] = "value is not valid UTF-8"
            values[name] = nil
        }
    }

    /// The value of `key`; throws when the event needs it and it could not be read.
    package func value(_ key: String) throws(UeventParser.Malformed) -> String? {
        if let reason = unreadable[key] { throw UeventParser.Malformed(description: "\(key): \(reason)") }
        return values[key]
    }

    public subscript(key: String) -> String? { values[key] }
}

/// Parses uevent properties (`KEY=VALUE`, one per line, as udev and the kernel give them):
/// `PCI_SLOT_NAME` (or `DEVPATH`), `ERROR_EVENT`, `DEVICE_ONLINE`. Events without
/// `ERROR_EVENT` are not AER events (nil); malformed ones are errors naming what is wrong.
public enum UeventParser {
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public var description: String
        package init(description: String) { self.description = description }
    }

    public static func parse(_ properties: [String: String], time: Double, source: AEREvent.Source) throws(Malformed)
        -> AEREvent?
    {
        try parse(UeventProperties(values: properties), time: time, source: source)
    }

    public static func parse(_ properties: UeventProperties, time: Double, source: AEREvent.Source) throws(Malformed)
        -> AEREvent?
    {
        guard let error = try properties.value("ERROR_EVENT") else { return nil }
        let kind: AEREvent.Kind
        switch error {
        case "BEGIN_RECOVERY": kind = .beginRecovery
        case "SUCCESSFUL_RECOVERY": kind = .successfulRecovery
        case "FAILED_RECOVERY": kind = .failedRecovery
        default: throw Malformed(description: "unknown ERROR_EVENT=\(shown(error))")
        }
        var slot = try properties.value("PCI_SLOT_NAME")
        if slot == nil { slot = try properties.value("DEVPATH")?.split(separator: "/").last.map(String.init) }
        guard let slot, let device = PCIAddress(slot) else {
            throw Malformed(description: "ERROR_EVENT=\(error) without a PCI address (PCI_SLOT_NAME or DEVPATH)")
        }
        var online: Bool?
        if let value = try properties.value("DEVICE_ONLINE") {
            guard value == "0" || value == "1" else {
                throw Malformed(description: "DEVICE_ONLINE=\(shown(value)) is neither 0 nor 1")
            }
            online = value == "1"
        }
        return AEREvent(time: time, device: device, kind: kind, deviceOnline: online, source: source)
    }

    /// `KEY=VALUE` lines (text of an injected event).
    public static func properties(_ text: String) -> UeventProperties {
        properties(bytes: Array(text.utf8))
    }

    /// `KEY=VALUE` lines separated by newlines or NULs, from raw bytes (an injected datagram).
    public static func properties(bytes: [UInt8]) -> UeventProperties {
        var result = UeventProperties()
        for line in bytes.split(whereSeparator: { $0 == UInt8(ascii: "\n") || $0 == 0 }) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            result.add(key: line[..<equals], value: line[line.index(after: equals)...])
        }
        return result
    }

    /// A value as quoted in a message: at most 64 characters of it.
    package static func shown(_ value: String) -> String {
        value.count <= 64 ? value : String(value.prefix(64)) + "… (\(value.utf8.count) bytes)"
    }
}
