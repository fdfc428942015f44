/// What a command or a desired-state file names to act on: one function (`DDDD:BB:DD.F` or
/// `BB:DD.F`) or a kernel IOMMU group (`group:N`). The one parser of that spelling.
public enum DeviceTarget: Sendable, Equatable, CustomStringConvertible {
    case function(PCIAddress)
    case group(Int)

    /// nil when `text` is neither an address nor `group:N` with N ≥ 0.
    public init?(_ text: String) {
        if text.hasPrefix("group:") {
            guard let number = Int(text.dropFirst("group:".count)), number >= 0 else { return nil }
            self = .group(number)
        } else if let address = PCIAddress(text) {
            self = .function(address)
        } else {
            return nil
        }
    }

    /// Why `text` is no target, for an error message.
    public static func problem(with text: String) -> String {
        text.hasPrefix("group:")
            ? "\(text): expected group:N with N a number" : "\(text) is neither DDDD:BB:DD.F nor group:N"
    }

    public var description: String {
        switch self {
        case .function(let address): address.description
        case .group(let number): "group:\(number)"
        }
    }
}
