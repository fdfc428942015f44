import PCIModel

/// How the kernel could reset a function on its own (drivers/pci/pci.c, `pci_reset_fn_methods`),
/// and what a secondary bus reset would take with it.
public struct ResetCapability: Sendable, Equatable {
    /// Where the method list came from.
    public enum Source: String, Sendable {
        /// sysfs `reset_method` (Linux ≥ 5.15), as the kernel wrote it.
        case resetMethod = "reset_method"
        /// Derived from config space (older kernels, lspci dumps).
        case configSpace = "config-space"
    }

    /// Methods in the kernel's order of preference.
    public var methods: [ResetMethod]
    public var source: Source
    /// The bridge whose secondary bus reset would reset this function; nil on a root bus.
    public var busResetBridge: PCIAddress?
    /// The blast radius: every other function on `busResetBridge`'s secondary bus and below
    /// it (VFs included), when the function has no reset but a bus reset (its methods are
    /// `bus`/`cxl_bus` only, or none). Empty when it has a reset of its own or is alone.
    public var busResetAlsoResets: [PCIAddress]
    /// `reset_method` lists `bus` although other functions share the bus. The kernel fills
    /// the list when it adds the function (function 0 of a multifunction device is added
    /// before its siblings are scanned) and `pci_parent_bus_reset()` refuses at reset time
    /// when the bus is shared, so topology, not the listing, decides.
    public var busListingStale: Bool

    /// `reset_method` when sysfs has it; otherwise FLR (PCIe DevCap bit 28 or the AF
    /// capability), PM (D3hot→D0 without NoSoftRst) and secondary bus reset (only when the
    /// function is alone on a non-root bus: the reset hits every function on that bus).
    public init(of device: PCIDevice, in model: HostModel) {
        let bridge = device.parent.flatMap { model[$0] != nil ? $0 : nil }
        busResetBridge = device.isBridge ? nil : bridge
        let busMates = bridge.map { model.children(of: $0).map(\.address).filter { $0 != device.address } } ?? []
        if let methods = device.resetMethods {
            self.methods = methods
            source = .resetMethod
        } else {
            source = .configSpace
            var methods: [ResetMethod] = []
            if device.config.express?.supportsFLR == true { methods.append(.flr) }
            if device.config.advancedFeatures?.supportsFLR == true { methods.append(.advancedFeaturesFLR) }
            if let pm = device.config.powerManagement, !pm.noSoftReset { methods.append(.pm) }
            if bridge != nil, !device.isBridge {
                let physicalMates = busMates.filter { model[$0]?.physicalFunction == nil }
                if physicalMates.isEmpty { methods.append(.bus) }
            }
            self.methods = methods
        }
        busListingStale = methods.contains(where: \.resetsTheBus) && !busMates.isEmpty
        if let bridge = busResetBridge, methods.allSatisfy(\.resetsTheBus) {
            busResetAlsoResets = Self.below(bridge, in: model).filter { $0 != device.address }
        } else {
            busResetAlsoResets = []
        }
    }

    /// Whether some method resets this function without touching others: one that is not a
    /// bus reset, or a bus reset of a bus the function has to itself.
    public var canResetAlone: Bool {
        methods.contains { !$0.resetsTheBus } || (!methods.isEmpty && !busListingStale)
    }

    /// Resets only through the parent bridge's secondary bus reset.
    public var busResetOnly: Bool { !methods.isEmpty && methods.allSatisfy(\.resetsTheBus) }

    /// Every function on `bridge`'s secondary bus and the buses below it, sorted.
    static func below(_ bridge: PCIAddress, in model: HostModel) -> [PCIAddress] {
        var result: [PCIAddress] = []
        var seen: Set<PCIAddress> = [bridge]
        var queue = [bridge]
        while let next = queue.popLast() {
            for child in model.children(of: next) where seen.insert(child.address).inserted {
                result.append(child.address)
                queue.append(child.address)
            }
        }
        return result.sorted()
    }
}
