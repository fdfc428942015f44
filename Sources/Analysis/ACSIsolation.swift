import PCIModel

/// Whether one function counts as "ACS enabled" for a set of flags, following the kernel's
/// `pci_acs_enabled()` (drivers/pci/pci.c) step by step, with the rule that decided it.
public struct ACSEvaluation: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// A device-specific quirk answered (the kernel's `pci_dev_acs_enabled[]`); the id names it.
        case quirk(id: String, enabled: Bool)
        /// Conventional PCI/PCI-X functions never isolate.
        case conventionalPCI
        /// PCIe-to-PCI bridges, PCI-to-PCIe bridges and root complex event collectors never isolate.
        case bridgeTypeExcluded(PCIExpressCapability.PortType)
        /// Root/downstream ports and multifunction endpoints need the capability…
        case noCapability
        /// …and every required flag the capability advertises set in control.
        case controlMissing(ACSFlags)
        case enabled
        /// Single-function endpoints and upstream ports are isolated without ACS (PCIe 6.12.1.3).
        case singleFunctionExempt
    }

    public var enabled: Bool
    public var rule: Rule

    public init(enabled: Bool, rule: Rule) {
        self.enabled = enabled
        self.rule = rule
    }
}

/// Evaluates ACS isolation, with room for quirks (device-specific answers) and what-if
/// overrides of control registers.
public struct ACSPolicy: Sendable {
    /// A device-specific answer, or nil to fall through to the generic rules. The quirk
    /// database supplies one; without it there are none.
    public typealias Quirk = @Sendable (PCIDevice, ACSFlags) -> (id: String, enabled: Bool)?

    public var quirk: Quirk?
    /// "What if" control words per function, instead of the ones read from config space.
    public var controlOverrides: [PCIAddress: ACSFlags]
    /// Answers for the isolation flags, computed once per function of one model.
    private var memo: [PCIAddress: (DeviceKey, ACSEvaluation)]?

    public init(quirk: Quirk? = nil, controlOverrides: [PCIAddress: ACSFlags] = [:]) {
        self.quirk = quirk
        self.controlOverrides = controlOverrides
    }

    /// This policy with every function of `model` evaluated up front (in parallel): group
    /// prediction and the reasons ask about the same bridges thousands of times.
    public func memoized(for model: HostModel) -> ACSPolicy {
        guard memo == nil else { return self }
        let base = self
        let answers = model.devices.parallelMap { device in
            (device.address, (DeviceKey(device), base.evaluate(device)))
        }
        var copy = self
        copy.memo = Dictionary(answers, uniquingKeysWith: { first, _ in first })
        return copy
    }

    /// What an ACS answer depends on; a memoized answer is used only for the same function.
    struct DeviceKey: Equatable, Sendable {
        var vendorID: UInt16
        var deviceID: UInt16
        var revision: UInt8
        var portType: UInt8?
        var multifunction: Bool
        var onRootBus: Bool
        var acs: ACSCapability?

        init(_ device: PCIDevice) {
            vendorID = device.vendorID
            deviceID = device.deviceID
            revision = device.config.revision
            portType = device.config.express?.rawPortType
            multifunction = device.isMultifunction
            onRootBus = device.parent == nil
            acs = device.config.acs
        }
    }

    /// `pci_acs_enabled(pdev, flags)`.
    public func evaluate(_ device: PCIDevice, flags: ACSFlags = .requiredForIsolation) -> ACSEvaluation {
        if flags == .requiredForIsolation, let (key, answer) = memo?[device.address], key == DeviceKey(device) {
            return answer
        }
        if let quirk, let answer = quirk(device, flags) {
            return ACSEvaluation(enabled: answer.enabled, rule: .quirk(id: answer.id, enabled: answer.enabled))
        }
        guard let express = device.config.express else {
            return ACSEvaluation(enabled: false, rule: .conventionalPCI)
        }
        switch express.portType {
        case .pciToPCIeBridge, .pcieToPCIBridge, .rootComplexEventCollector:
            return ACSEvaluation(enabled: false, rule: .bridgeTypeExcluded(express.portType ?? .pcieToPCIBridge))
        case .downstreamPort, .rootPort:
            return flagsEnabled(device, flags)
        case .endpoint, .upstreamPort, .legacyEndpoint, .rootComplexIntegratedEndpoint:
            if device.isMultifunction { return flagsEnabled(device, flags) }
            return ACSEvaluation(enabled: true, rule: .singleFunctionExempt)
        case nil:
            return ACSEvaluation(enabled: true, rule: .singleFunctionExempt)
        }
    }

    /// `pci_acs_flags_enabled()`: flags are reduced to what the capability advertises (plus
    /// EC, which is never implied), then all must be set in control.
    private func flagsEnabled(_ device: PCIDevice, _ flags: ACSFlags) -> ACSEvaluation {
        guard let acs = device.config.acs else { return ACSEvaluation(enabled: false, rule: .noCapability) }
        let required = flags.intersection(acs.capability.union(.egressControl))
        let control = controlOverrides[device.address] ?? acs.control
        let missing = required.subtracting(control)
        return missing.isEmpty
            ? ACSEvaluation(enabled: true, rule: .enabled)
            : ACSEvaluation(enabled: false, rule: .controlMissing(missing))
    }

    /// `pci_acs_path_enabled(start, NULL, flags)`: `start` and every bridge above it.
    public func pathEnabled(from start: PCIDevice, in model: HostModel, flags: ACSFlags = .requiredForIsolation) -> Bool
    {
        guard evaluate(start, flags: flags).enabled else { return false }
        return model.upstreamBridges(of: start.address).allSatisfy { evaluate($0, flags: flags).enabled }
    }
}

extension ACSEvaluation.Rule {
    /// One line that says why, for reasons and `--tree`.
    public var explanation: String {
        switch self {
        case .quirk(let id, let enabled): "quirk \(id) says \(enabled ? "isolated" : "not isolated")"
        case .conventionalPCI: "conventional PCI: no ACS"
        case .bridgeTypeExcluded(let type): "\(type.jsonName): ACS never applies"
        case .noCapability: "no ACS capability"
        case .controlMissing(let flags): "ACS control lacks \(flags.shortNames.joined(separator: " "))"
        case .enabled: "ACS enabled"
        case .singleFunctionExempt: "single function: isolated without ACS"
        }
    }
}
