import PCIModel

/// How the kernel could reset a function on its own (drivers/pci/pci.c, `pci_reset_fn_methods`).
public struct ResetCapability: Sendable, Equatable {
    /// Methods in the kernel's order of preference.
    public var methods: [String]
    /// Where the answer came from: the `reset_method` sysfs file, or config space.
    public var fromSysfs: Bool

    /// `reset_method` when sysfs has it; otherwise FLR (PCIe DevCap bit 28 or the AF
    /// capability), PM (D3hot→D0 without NoSoftRst) and secondary bus reset (only when the
    /// function is alone on a non-root bus: the reset hits every function on that bus).
    public init(of device: PCIDevice, in model: HostModel) {
        if let methods = device.resetMethods {
            self.methods = methods
            fromSysfs = true
            return
        }
        fromSysfs = false
        var methods: [String] = []
        if device.config.express?.supportsFLR == true { methods.append("flr") }
        if device.config.advancedFeatures?.supportsFLR == true { methods.append("af_flr") }
        if let pm = device.config.powerManagement, !pm.noSoftReset { methods.append("pm") }
        if let parent = device.parent, model[parent] != nil, !device.isBridge {
            let busMates = model.children(of: parent).filter {
                $0.address != device.address && $0.physicalFunction == nil
            }
            if busMates.isEmpty { methods.append("bus") }
        }
        self.methods = methods
    }

    /// Whether any method resets this function without touching others ("bus" is only
    /// listed, by the kernel and here, when the function is alone on its bus).
    public var canResetAlone: Bool { !methods.isEmpty }
}
