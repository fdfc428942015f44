import PCIModel

/// One AER occurrence on one PCI function, as the kernel reported it or as a counter moved.
public struct AEREvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
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

    public enum Source: String, Sendable { case uevent, counter, injected }

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
}

/// Parses uevent properties (`KEY=VALUE`, one per line, as udev and the kernel give them):
/// `PCI_SLOT_NAME` (or `DEVPATH`), `ERROR_EVENT`, `DEVICE_ONLINE`. Events without
/// `ERROR_EVENT` are not AER events (nil); malformed ones are errors naming what is wrong.
public enum UeventParser {
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func parse(_ properties: [String: String], time: Double, source: AEREvent.Source) throws(Malformed)
        -> AEREvent?
    {
        guard let error = properties["ERROR_EVENT"] else { return nil }
        let kind: AEREvent.Kind
        switch error {
        case "BEGIN_RECOVERY": kind = .beginRecovery
        case "SUCCESSFUL_RECOVERY": kind = .successfulRecovery
        case "FAILED_RECOVERY": kind = .failedRecovery
        default: throw Malformed(description: "unknown ERROR_EVENT=\(error)")
        }
        let slot = properties["PCI_SLOT_NAME"] ?? properties["DEVPATH"]?.split(separator: "/").last.map(String.init)
        guard let slot, let device = PCIAddress(slot) else {
            throw Malformed(description: "ERROR_EVENT=\(error) without a PCI address (PCI_SLOT_NAME or DEVPATH)")
        }
        var online: Bool?
        if let value = properties["DEVICE_ONLINE"] {
            guard value == "0" || value == "1" else {
                throw Malformed(description: "DEVICE_ONLINE=\(value) is neither 0 nor 1")
            }
            online = value == "1"
        }
        return AEREvent(time: time, device: device, kind: kind, deviceOnline: online, source: source)
    }

    /// `KEY=VALUE` lines (text of an injected event).
    public static func properties(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\0" }) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }
}
