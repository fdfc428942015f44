import PCIModel

extension ResetMethod {
    /// The kernel's name (`device_specific`), as a udev rule writes it.
    public var name: String { rawValue }

    /// The method a request (a command argument, an `apply` file) names, or an error listing
    /// the names the kernel knows. Spellings live in one place: `ResetMethod` (PCIModel).
    public static func parse(_ name: String) throws(ActionError) -> ResetMethod {
        guard let method = ResetMethod(rawValue: name) else {
            throw ActionError(
                .invalidRequest,
                "\(name) is not a reset method; the kernel knows \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return method
    }
}
