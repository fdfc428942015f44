/// One of the kernel's PCI reset methods, as `reset_method` names them
/// (Documentation/ABI/testing/sysfs-bus-pci; `cxl_bus` since 6.10). The one place their names
/// are checked.
public enum ResetMethod: String, Sendable, CaseIterable, Comparable {
    case deviceSpecific = "device_specific"
    case acpi
    case flr
    case afFLR = "af_flr"
    case pm
    case bus
    case cxlBus = "cxl_bus"

    /// The kernel's name (`device_specific`).
    public var name: String { rawValue }

    /// The method named `name`, or an error listing the names the kernel knows.
    public static func parse(_ name: String) throws(ActionError) -> ResetMethod {
        guard let method = ResetMethod(rawValue: name) else {
            throw ActionError(
                .invalidRequest,
                "\(name) is not a reset method; the kernel knows \(allCases.map(\.name).joined(separator: ", "))")
        }
        return method
    }

    /// Kernel order (the order `reset_method` lists them in).
    public static func < (a: ResetMethod, b: ResetMethod) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
