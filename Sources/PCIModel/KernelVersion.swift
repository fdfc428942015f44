/// A Linux kernel version, `major.minor.patch`, as `kernel/osrelease` begins
/// (`6.12.117+deb12-amd64`, `6.1.0-57-amd64`) and as the quirk database writes it (`5.10`).
/// What follows the numbers (Debian's ABI and flavour) is not part of the comparison: a
/// distribution's backports are invisible in the version, so rules keyed on it name the
/// mainline release that changed.
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses the leading `M.N[.P]`; nil when there is no `M.N` or a number is out of range.
    public init?(release: String) {
        var numbers: [Int] = []
        var current: Int?
        for byte in release.utf8 {
            if byte >= 0x30, byte <= 0x39 {
                let (scaled, overflow) = (current ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow, scaled <= 1_000_000 else { return nil }
                current = scaled + Int(byte - 0x30)
            } else if byte == UInt8(ascii: "."), let value = current, numbers.count < 2 {
                numbers.append(value)
                current = nil
            } else {
                break
            }
        }
        if let current { numbers.append(current) }
        guard numbers.count >= 2 else { return nil }
        self.init(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 0)
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public var description: String { patch == 0 ? "\(major).\(minor)" : "\(major).\(minor).\(patch)" }
}
