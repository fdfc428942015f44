import PCIModel

/// `--assume-acs PORT[=FLAGS]`: "what if this function's ACS Control register had these bits
/// set". Only bits the function's ACS Capability register advertises can be set: a bit the
/// hardware does not implement is hardwired to 0 in Control (PCIe base spec 7.7.8.3), so no
/// parameter can turn it on.
public struct ACSAssumption: Sendable, Equatable, CustomStringConvertible {
    public var port: PCIAddress
    /// The bits to set; nil means the bits the kernel requires for isolation that the
    /// function advertises (`REQ_ACS_FLAGS` reduced as `pci_acs_flags_enabled()` does).
    public var flags: ACSFlags?

    public init(port: PCIAddress, flags: ACSFlags? = nil) {
        self.port = port
        self.flags = flags
    }

    /// `ADDRESS`, `ADDRESS=SV,RR,CR,UF` (names as vfioctl prints them, `+` or `,` between)
    /// or `ADDRESS=0x1d` (the Control register's bits).
    public init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let port = PCIAddress(parts[0]) else { return nil }
        self.port = port
        guard parts.count == 2 else { return }
        guard let flags = ACSFlags(names: parts[1]) else { return nil }
        self.flags = flags
    }

    public var description: String {
        flags.map { "\(port)=\($0.shortNames.joined(separator: ","))" } ?? "\(port)"
    }
}

extension ACSFlags {
    /// `SV,RR,CR,UF`, `SV+RR`, or a hexadecimal register value `0x1d` (bits above DT refused).
    public init?(names text: some StringProtocol) {
        let text = String(text)
        guard text.unicodeScalars.allSatisfy(\.isASCII) else { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            guard text.dropFirst(2).allSatisfy(\.isHexDigit), let value = UInt16(text.dropFirst(2), radix: 16),
                value != 0, value & ~0x7f == 0
            else { return nil }
            self.init(rawValue: value)
            return
        }
        let byName = Dictionary(
            ACSFlags.all.map { ($0.shortNames[0], $0) }, uniquingKeysWith: { first, _ in first })
        var flags: ACSFlags = []
        for name in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "," || $0 == "+" }) {
            guard let flag = byName[name.uppercased()] else { return nil }
            flags.insert(flag)
        }
        guard !flags.isEmpty else { return nil }
        self = flags
    }

    /// Every defined bit, SV to DT.
    static let all: [ACSFlags] = [
        .sourceValidation, .translationBlocking, .requestRedirect, .completionRedirect, .upstreamForwarding,
        .egressControl, .directTranslated,
    ]
}

/// An assumption checked against one host: the function, its Control word before and after.
public struct ResolvedACSAssumption: Sendable, Equatable {
    public var port: PCIAddress
    public var capability: ACSFlags
    public var controlBefore: ACSFlags
    public var controlAfter: ACSFlags

    public init(port: PCIAddress, capability: ACSFlags, controlBefore: ACSFlags, controlAfter: ACSFlags) {
        self.port = port
        self.capability = capability
        self.controlBefore = controlBefore
        self.controlAfter = controlAfter
    }

    /// The bits this assumption turns on (after minus before).
    public var enabling: ACSFlags { controlAfter.subtracting(controlBefore) }
}

/// Why an assumption cannot be made: each names the function and says what would be needed.
public enum ACSAssumptionError: Error, Equatable, CustomStringConvertible {
    case noSuchFunction(PCIAddress, source: String)
    /// Conventional PCI functions and bridge types the kernel never tests for ACS.
    case notApplicable(PCIAddress, why: String)
    /// Single-function endpoints and upstream ports already count as isolated.
    case alreadyIsolated(PCIAddress)
    /// No ACS capability: nothing upstream can make it isolate.
    case noCapability(PCIAddress, ids: String)
    case notAdvertised(PCIAddress, missing: ACSFlags, capability: ACSFlags)
    /// A device-specific quirk answers the kernel's ACS test for it, whatever Control says.
    case decidedByQuirk(PCIAddress, id: String, isolated: Bool)

    public var description: String {
        switch self {
        case .noSuchFunction(let address, let source):
            "--assume-acs \(address): no such function in \(source)"
        case .notApplicable(let address, let why):
            "--assume-acs \(address): \(why), so ACS bits cannot change its group"
        case .alreadyIsolated(let address):
            "--assume-acs \(address): a single-function endpoint or upstream port already counts as isolated "
                + "without ACS; name the port above it instead"
        case .noCapability(let address, let ids):
            "--assume-acs \(address) [\(ids)]: it has no ACS capability, so no kernel parameter can make it "
                + "isolate and vfioctl will not pretend it does. The out-of-tree pcie_acs_override patch only "
                + "tells the kernel to believe it (peer-to-peer between the devices below stays open, as "
                + "libvirt's relaxed_acs_check does); a vendor-confirmed isolation quirk, or a slot on a port "
                + "that isolates (`vfioctl advise ADDRESS`), are the real ways"
        case .decidedByQuirk(let address, let id, let isolated):
            "--assume-acs \(address): quirk \(id) decides its ACS test (\(isolated ? "isolated" : "not isolated")) "
                + "whatever its Control register says, so config_acs= would not change its group"
                + (isolated ? "; it already counts as isolated" : "; --assume-quirk/--assume-no-quirk model quirks")
        case .notAdvertised(let address, let missing, let capability):
            "--assume-acs \(address): its ACS Capability register (0x\(hex(capability.rawValue, width: 4)): "
                + "\(capability.shortNames.joined(separator: " "))) does not advertise "
                + "\(missing.shortNames.joined(separator: " ")); those Control bits are hardwired to 0"
        }
    }
}

extension ACSAssumption {
    /// Checks the assumption against `model` the way `pci_acs_enabled()` would test the function.
    public func resolve(in model: HostModel) throws(ACSAssumptionError) -> ResolvedACSAssumption {
        guard let device = model[port] else { throw .noSuchFunction(port, source: model.source) }
        guard let express = device.config.express else {
            throw .notApplicable(port, why: "it is a conventional PCI function (the kernel never credits it with ACS)")
        }
        switch express.portType {
        case .pciToPCIeBridge, .pcieToPCIBridge, .rootComplexEventCollector:
            throw .notApplicable(
                port, why: "it is a \(express.portType?.jsonName ?? "bridge"): the kernel never tests its ACS")
        case .endpoint, .upstreamPort, .legacyEndpoint, .rootComplexIntegratedEndpoint, nil:
            if !device.isMultifunction { throw .alreadyIsolated(port) }
        case .rootPort, .downstreamPort:
            break
        }
        guard let acs = device.config.acs else { throw .noCapability(port, ids: device.ids) }
        let wanted = flags ?? ACSFlags.requiredForIsolation.intersection(acs.capability)
        let missing = wanted.subtracting(acs.capability)
        guard missing.isEmpty else { throw .notAdvertised(port, missing: missing, capability: acs.capability) }
        return ResolvedACSAssumption(
            port: port, capability: acs.capability, controlBefore: acs.control, controlAfter: acs.control.union(wanted))
    }
}
