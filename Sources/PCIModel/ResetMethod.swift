/// One way the kernel can reset a single PCI function: a name in sysfs `reset_method`
/// (Linux ≥ 5.15, Documentation/ABI/testing/sysfs-bus-pci), from `pci_reset_fn_methods[]` in
/// drivers/pci/pci.c. The raw value is the kernel's spelling, which the JSON output keeps.
public enum ResetMethod: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// A quirk for this device (`pci_dev_specific_reset`); what gnif/vendor-reset provides.
    case deviceSpecific = "device_specific"
    /// The ACPI `_RST` method.
    case acpi
    /// PCIe Function Level Reset (Device Capabilities bit 28).
    case flr
    /// FLR through the Advanced Features capability (conventional PCI).
    case advancedFeaturesFLR = "af_flr"
    /// D3hot → D0 without No_Soft_Reset.
    case pm
    /// Secondary bus reset of the parent bridge: resets every function below it.
    case bus
    /// CXL bus reset (Linux ≥ 6.10).
    case cxlBus = "cxl_bus"

    public var description: String { rawValue }

    /// The kernel's default order of preference (the order of `pci_reset_fn_methods[]`).
    public static func < (lhs: ResetMethod, rhs: ResetMethod) -> Bool {
        (allCases.firstIndex(of: lhs) ?? 0) < (allCases.firstIndex(of: rhs) ?? 0)
    }

    /// Whether this method resets more than the function itself when other functions share
    /// its bus (a secondary bus reset hits the whole bus and everything below it).
    public var resetsTheBus: Bool { self == .bus || self == .cxlBus }

    /// The names a `reset_method` line holds, in its order: the methods vfioctl knows and the
    /// words it does not (a newer kernel's method), kept apart so a reader can report them.
    public static func parseList(_ text: String) -> (methods: [ResetMethod], unknown: [String]) {
        var methods: [ResetMethod] = []
        var unknown: [String] = []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            if let method = ResetMethod(rawValue: String(word)) {
                methods.append(method)
            } else {
                unknown.append(String(word))
            }
        }
        return (methods, unknown)
    }
}

/// A value for one function's `reset_method`, checked before it is written: the public API
/// `vfioctl reset-method` and boot-time persistence (a udev rule) share.
///
/// The kernel (`reset_method_store()`, drivers/pci/pci-sysfs.c) takes `default` (recompute the
/// list by probing every method) or space-separated method names, in the order the user
/// prefers; it probes each and fails the whole write with EINVAL when one is unsupported,
/// leaving the old list. An empty write disables every method; vfioctl does not offer that
/// (some kernels reject it, and a function without reset leaks state between guests).
public struct ResetMethodSetting: Sendable, Equatable, CustomStringConvertible {
    public enum Value: Sendable, Equatable {
        /// `default`: the kernel probes every method again, in its own order.
        case kernelDefault
        /// These methods only, in this order of preference.
        case methods([ResetMethod])
    }

    public var address: PCIAddress
    public var value: Value

    public init(address: PCIAddress, value: Value) {
        self.address = address
        self.value = value
    }

    /// Parses what a user typed: `default` alone, or method names.
    /// - Throws: `ResetMethodError` for an unknown name, a repeated one, `default` mixed with
    ///   methods, or nothing at all.
    public init(address: PCIAddress, words: [String]) throws(ResetMethodError) {
        self.address = address
        guard !words.isEmpty else { throw .init(.empty, address: address) }
        if words.contains("default") {
            guard words == ["default"] else { throw .init(.defaultWithMethods, address: address) }
            value = .kernelDefault
            return
        }
        var methods: [ResetMethod] = []
        for word in words {
            guard let method = ResetMethod(rawValue: word) else { throw .init(.unknownMethod(word), address: address) }
            guard !methods.contains(method) else { throw .init(.repeated(method), address: address) }
            methods.append(method)
        }
        value = .methods(methods)
    }

    /// Exactly what is written to `reset_method` (HostWriter adds the newline, as echo does).
    public var kernelText: String {
        switch value {
        case .kernelDefault: "default"
        case .methods(let methods): methods.map(\.rawValue).joined(separator: " ")
        }
    }

    public var description: String { "\(address) reset_method \(kernelText)" }

    /// Checks the setting against the function's `reset_method` now (nil: no such file).
    ///
    /// Any method the kernel knows may be named, listed now or not: `reset_method_store()`
    /// probes each named method afresh (drivers/pci/pci-sysfs.c), so a method an earlier write
    /// left out, or `device_specific` that vendor-reset added after the list was made, is
    /// accepted when it works; one that does not fails the write with EINVAL, which the write
    /// reports, and the kernel keeps the old list.
    public func validate(current: [ResetMethod]?) throws(ResetMethodError) {
        guard current != nil else { throw .init(.noResetMethodFile, address: address) }
    }
}

/// Why a `reset_method` setting cannot be written, with what to do instead.
public struct ResetMethodError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case empty
        case defaultWithMethods
        case unknownMethod(String)
        case repeated(ResetMethod)
        case noResetMethodFile
    }

    public var code: Code
    public var address: PCIAddress

    public init(_ code: Code, address: PCIAddress) {
        self.code = code
        self.address = address
    }

    public var description: String {
        let known = ResetMethod.allCases.map(\.rawValue).joined(separator: " ")
        switch code {
        case .empty:
            return "\(address): name the reset methods to keep (\(known)) or `default`"
        case .defaultWithMethods:
            return "\(address): `default` stands alone (it lets the kernel choose every method again)"
        case .unknownMethod(let word):
            let printable = String(word.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" })
            return "\(address): \"\(printable)\" is no reset method the kernel knows; known: \(known), or `default`"
        case .repeated(let method):
            return "\(address): \(method) is named twice; name each method once, in the order to try them"
        case .noResetMethodFile:
            return
                "\(address) has no reset_method: the kernel is older than 5.15, or it found no way to reset this function"
        }
    }
}
