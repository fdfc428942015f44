/// A PCI function address, `DDDD:BB:DD.F`, as sysfs names devices under `bus/pci/devices/`.
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// PCI segment (domain); sysfs prints four hex digits, more when it does not fit.
    public var domain: UInt32
    public var bus: UInt8
    /// Device (slot) number, 0...31.
    public var device: UInt8
    /// Function number, 0...7.
    public var function: UInt8

    public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        self.domain = domain
        self.bus = bus
        self.device = device & 0x1f
        self.function = function & 0x07
    }

    /// Parses `DDDD:BB:DD.F` or the short `BB:DD.F` (domain 0), case-insensitive hex.
    /// Returns nil for anything else, including out-of-range device or function numbers.
    public init?(_ text: some StringProtocol) {
        // Byte-level parse without allocating: sysfs paths hold thousands of these.
        // Up to four fields, their digit counts, and the separators as bits (1 = '.').
        var fields: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        var digits: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var field = 0
        var dots: UInt8 = 0
        var current: UInt32 = 0
        var count = 0
        func store(_ value: UInt32, _ count: Int, at index: Int) {
            switch index {
            case 0: (fields.0, digits.0) = (value, count)
            case 1: (fields.1, digits.1) = (value, count)
            case 2: (fields.2, digits.2) = (value, count)
            default: (fields.3, digits.3) = (value, count)
            }
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                UInt8(ascii: "A")...UInt8(ascii: "F"):
                let value: UInt8 =
                    byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10
                current = current &* 16 &+ UInt32(value)
                count += 1
                guard count <= 8 else { return nil }
            case UInt8(ascii: ":"), UInt8(ascii: "."):
                guard count > 0, field < 3 else { return nil }
                store(current, count, at: field)
                if byte == UInt8(ascii: ".") { dots |= 1 << field }
                field += 1
                current = 0
                count = 0
            default:
                return nil
            }
        }
        guard count > 0 else { return nil }
        store(current, count, at: field)
        let domain: UInt32
        let (bus, device, function): (UInt32, UInt32, UInt32)
        let (busDigits, deviceDigits, functionDigits): (Int, Int, Int)
        if field == 3, dots == 0b100 {  // DDDD:BB:DD.F
            domain = fields.0
            (bus, device, function) = (fields.1, fields.2, fields.3)
            (busDigits, deviceDigits, functionDigits) = (digits.1, digits.2, digits.3)
        } else if field == 2, dots == 0b10 {  // BB:DD.F
            domain = 0
            (bus, device, function) = (fields.0, fields.1, fields.2)
            (busDigits, deviceDigits, functionDigits) = (digits.0, digits.1, digits.2)
        } else {
            return nil
        }
        guard busDigits <= 2, deviceDigits <= 2, functionDigits == 1, device < 32, function < 8 else { return nil }
        self.init(domain: domain, bus: UInt8(bus), device: UInt8(device), function: UInt8(function))
    }

    /// The four fields packed in one word (domain, bus, device, function from high to low):
    /// one value to hash and compare, for the dictionaries and sets keyed by address.
    var packed: UInt64 {
        UInt64(domain) << 32 | UInt64(bus) << 16 | UInt64(device) << 8 | UInt64(function)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(packed)
    }

    public static func == (lhs: PCIAddress, rhs: PCIAddress) -> Bool { lhs.packed == rhs.packed }

    /// The same device number with function 0: the "slot" the kernel groups multifunction siblings by.
    public var slot: PCISlot { PCISlot(domain: domain, bus: bus, device: device) }

    public var description: String {
        if domain > 0xffff {
            return hex(domain, width: 4) + ":" + hex(bus, width: 2) + ":" + hex(device, width: 2) + "."
                + String(function)
        }
        // Hot path (thousands of devices in reports): format the 12 ASCII bytes directly.
        func digits(_ value: Int) -> UInt8 { hexDigit(UInt8(value)) }
        return String(unsafeUninitializedCapacity: 12) { buffer in
            let d = Int(domain)
            buffer[0] = digits((d >> 12) & 0xf)
            buffer[1] = digits((d >> 8) & 0xf)
            buffer[2] = digits((d >> 4) & 0xf)
            buffer[3] = digits(d & 0xf)
            buffer[4] = UInt8(ascii: ":")
            buffer[5] = digits(Int(bus >> 4))
            buffer[6] = digits(Int(bus & 0xf))
            buffer[7] = UInt8(ascii: ":")
            buffer[8] = digits(Int(device >> 4))
            buffer[9] = digits(Int(device & 0xf))
            buffer[10] = UInt8(ascii: ".")
            buffer[11] = digits(Int(function))
            return 12
        }
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        lhs.packed < rhs.packed
    }
}

/// A bus/device pair without a function: the unit whose functions share a multifunction package.
public struct PCISlot: Hashable, Sendable {
    public var domain: UInt32
    public var bus: UInt8
    public var device: UInt8
}

/// Hex text as sysfs and config files write it, `0x8086` or `8086`, as a number; nil for
/// anything else (an empty string, other digits, more than 64 bits).
public func parseHex(_ text: some StringProtocol) -> UInt64? {
    UInt64(text.hasPrefix("0x") ? text.dropFirst(2) : text.dropFirst(0), radix: 16)
}

/// The lower-case hex digit (ASCII) of a nibble, 0…15.
@inlinable
public func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}

/// Lower-case hex of `value`, zero-padded to `width` digits (never truncated).
public func hex(_ value: some BinaryInteger, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
