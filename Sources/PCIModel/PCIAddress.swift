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
        // Byte-level parse: sysfs paths hold thousands of these and this runs for each.
        var fields: [UInt32] = []
        var digits: [Int] = []
        var current: UInt32 = 0
        var count = 0
        var separators: [UInt8] = []
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
                guard count > 0 else { return nil }
                fields.append(current)
                digits.append(count)
                separators.append(byte)
                current = 0
                count = 0
            default:
                return nil
            }
        }
        guard count > 0 else { return nil }
        fields.append(current)
        digits.append(count)
        let colon = UInt8(ascii: ":")
        let dot = UInt8(ascii: ".")
        let domain: UInt32
        let rest: ArraySlice<UInt32>
        let restDigits: ArraySlice<Int>
        if separators == [colon, colon, dot] {
            domain = fields[0]
            rest = fields[1...]
            restDigits = digits[1...]
        } else if separators == [colon, dot] {
            domain = 0
            rest = fields[0...]
            restDigits = digits[0...]
        } else {
            return nil
        }
        let (bus, device, function) = (rest[rest.startIndex], rest[rest.startIndex + 1], rest[rest.startIndex + 2])
        guard restDigits[restDigits.startIndex] <= 2, restDigits[restDigits.startIndex + 1] <= 2,
            restDigits[restDigits.startIndex + 2] == 1, device < 32, function < 8
        else { return nil }
        self.init(domain: domain, bus: UInt8(bus), device: UInt8(device), function: UInt8(function))
    }

    /// The same device number with function 0: the "slot" the kernel groups multifunction siblings by.
    public var slot: PCISlot { PCISlot(domain: domain, bus: bus, device: device) }

    public var description: String {
        if domain > 0xffff {
            return hex(domain, width: 4) + ":" + hex(bus, width: 2) + ":" + hex(device, width: 2) + "."
                + String(function)
        }
        // Hot path (thousands of devices in reports): format the 12 ASCII bytes directly.
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 12) { buffer in
            let d = Int(domain)
            buffer[0] = digits[(d >> 12) & 0xf]
            buffer[1] = digits[(d >> 8) & 0xf]
            buffer[2] = digits[(d >> 4) & 0xf]
            buffer[3] = digits[d & 0xf]
            buffer[4] = UInt8(ascii: ":")
            buffer[5] = digits[Int(bus >> 4)]
            buffer[6] = digits[Int(bus & 0xf)]
            buffer[7] = UInt8(ascii: ":")
            buffer[8] = digits[Int(device >> 4)]
            buffer[9] = digits[Int(device & 0xf)]
            buffer[10] = UInt8(ascii: ".")
            buffer[11] = digits[Int(function)]
            return 12
        }
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.domain, lhs.bus, lhs.device, lhs.function) < (rhs.domain, rhs.bus, rhs.device, rhs.function)
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

/// Lower-case hex of `value`, zero-padded to `width` digits (never truncated).
public func hex(_ value: some BinaryInteger, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
