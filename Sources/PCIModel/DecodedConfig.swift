/// Everything vfioctl reads out of one function's configuration space, decoded once.
public struct DecodedConfig: Sendable, Equatable {
    /// Header Type register (0x0e) bits 6:0.
    public enum HeaderLayout: Sendable, Equatable {
        case normal
        case bridge
        case cardbus
        case unknown(UInt8)
    }

    public var vendorID: UInt16
    public var deviceID: UInt16
    public var revision: UInt8
    /// Base class, subclass and programming interface (0x09–0x0b) as one 24-bit value.
    public var classCode: UInt32
    public var layout: HeaderLayout
    /// Header Type bit 7.
    public var isMultifunction: Bool
    /// Subsystem IDs of a type 0 header (0x2c/0x2e); nil for bridges.
    public var subsystemVendorID: UInt16?
    public var subsystemID: UInt16?
    /// Secondary and subordinate bus numbers of a type 1 header (0x19/0x1a).
    public var secondaryBus: UInt8?
    public var subordinateBus: UInt8?

    /// Standard capabilities in chain order: (ID, offset).
    public var capabilities: [(id: UInt8, offset: Int)]
    /// Extended capabilities in chain order: (ID, version, offset).
    public var extendedCapabilities: [(id: UInt16, version: UInt8, offset: Int)]

    public var express: PCIExpressCapability?
    public var powerManagement: PowerManagementCapability?
    public var msi: MSICapability?
    public var msix: MSIXCapability?
    public var advancedFeatures: AdvancedFeaturesCapability?
    public var acs: ACSCapability?
    public var aer: AERCapability?
    public var sriov: SRIOVCapability?
    public var ari: ARICapability?
    public var serialNumber: SerialNumberCapability?
    public var dpc: DPCCapability?

    /// How many bytes of config space were readable.
    public var readableLength: Int
    public var anomalies: [ConfigAnomaly]

    /// Base class byte (0x0b): 0x06 bridge, 0x03 display, 0x02 network, …
    public var baseClass: UInt8 { UInt8(classCode >> 16) }
    public var isBridge: Bool { layout == .bridge || layout == .cardbus }
    /// Class 08/06 (base-class system peripheral, sub-class IOMMU): an IOMMU that is itself a
    /// PCI function, as AMD-Vi units are.
    public var isIOMMU: Bool { classCode >> 8 == 0x0806 }
    public var isPCIExpress: Bool { express != nil }
    /// Function Level Reset: PCIe Device Capabilities bit 28, or the Advanced Features
    /// capability's FLR with TP (`pcie_has_flr()`, `pci_af_flr()`).
    public var supportsFLR: Bool { express?.supportsFLR == true || advancedFeatures?.supportsFLR == true }

    public static func == (lhs: DecodedConfig, rhs: DecodedConfig) -> Bool {
        lhs.vendorID == rhs.vendorID && lhs.deviceID == rhs.deviceID && lhs.classCode == rhs.classCode
            && lhs.capabilities.map(\.offset) == rhs.capabilities.map(\.offset)
            && lhs.extendedCapabilities.map(\.offset) == rhs.extendedCapabilities.map(\.offset)
            && lhs.readableLength == rhs.readableLength && lhs.anomalies == rhs.anomalies
    }

    /// Decodes `config`. Never traps: malformed chains end in an anomaly.
    public init(_ config: ConfigSpace) {
        var anomalies: [ConfigAnomaly] = []
        readableLength = config.count
        vendorID = config.u16(ConfigRegister.vendorID) ?? 0xffff
        deviceID = config.u16(ConfigRegister.deviceID) ?? 0xffff
        revision = config.u8(ConfigRegister.revision) ?? 0
        classCode =
            UInt32(config.u8(0x0b) ?? 0) << 16 | UInt32(config.u8(0x0a) ?? 0) << 8 | UInt32(config.u8(0x09) ?? 0)
        let headerType = config.u8(ConfigRegister.headerType) ?? 0
        isMultifunction = headerType & 0x80 != 0
        switch headerType & 0x7f {
        case 0: layout = .normal
        case 1: layout = .bridge
        case 2: layout = .cardbus
        default: layout = .unknown(headerType & 0x7f)
        }
        if layout == .normal {
            subsystemVendorID = config.u16(ConfigRegister.subsystemVendorID)
            subsystemID = config.u16(ConfigRegister.subsystemID)
        }
        if layout == .bridge {
            secondaryBus = config.u8(ConfigRegister.secondaryBus)
            subordinateBus = config.u8(ConfigRegister.subordinateBus)
        }
        if config.count < 64 {
            anomalies.append(.init(.truncated, "only \(config.count) bytes of config space are readable"))
        } else if config.count < 256 {
            anomalies.append(
                .init(.truncated, "only \(config.count) of 256 bytes of config space are readable (run as root)"))
        }
        if vendorID == 0xffff || vendorID == 0 {
            anomalies.append(.init(.noDevice, "vendor ID reads \(hex(vendorID, width: 4))"))
        }

        capabilities = []
        extendedCapabilities = []
        self.anomalies = []
        walkStandardCapabilities(config, headerType: headerType, anomalies: &anomalies)
        if config.count > ConfigRegister.extendedCapabilitiesStart {
            if express != nil {
                walkExtendedCapabilities(config, anomalies: &anomalies)
            } else if let first = config.u32(ConfigRegister.extendedCapabilitiesStart), first != 0,
                first != 0xffff_ffff
            {
                // lspci and the kernel only read extended space of PCIe (and PCI-X 2.0) functions;
                // on a conventional bus the bytes above 0x100 usually mirror the header.
                let aliased = first == config.u32(0)
                anomalies.append(
                    .init(
                        .extendedSpaceInvalid,
                        aliased
                            ? "bytes at 0x100 repeat the header (config space aliased on a conventional bus); ignored"
                            : "bytes at 0x100 are not zero but the function has no PCI Express capability; ignored"))
            }
        }
        if let express, express.portType == nil {
            anomalies.append(
                .init(
                    .reservedValue,
                    "PCI Express port type \(express.rawPortType) is reserved (capability at 0x\(hex(express.offset, width: 2)))"
                ))
        }
        self.anomalies = anomalies
    }

    // MARK: - Capability chains

    private mutating func walkStandardCapabilities(
        _ config: ConfigSpace, headerType: UInt8, anomalies: inout [ConfigAnomaly]
    ) {
        guard let status = config.u16(ConfigRegister.status), status & ConfigRegister.statusCapabilityList != 0 else {
            return
        }
        let pointerRegister =
            headerType & 0x7f == 2 ? ConfigRegister.cardbusCapabilitiesPointer : ConfigRegister.capabilitiesPointer
        guard let first = config.u8(pointerRegister) else { return }
        var offset = Int(first & 0xfc)
        var visited = Set<Int>()
        while offset != 0 {
            guard offset >= 0x40 else {
                anomalies.append(
                    .init(.pointerOutOfRange, "capability pointer 0x\(hex(offset, width: 2)) points into the header"))
                return
            }
            guard let id = config.u8(offset), let next = config.u8(offset + 1) else {
                anomalies.append(
                    .init(
                        .pointerOutOfRange,
                        "capability at 0x\(hex(offset, width: 2)) is beyond the \(config.count) readable bytes"))
                return
            }
            guard visited.insert(offset).inserted else {
                anomalies.append(.init(.loop, "capability list loops back to 0x\(hex(offset, width: 2))"))
                return
            }
            if id == 0xff {
                anomalies.append(
                    .init(.pointerOutOfRange, "capability at 0x\(hex(offset, width: 2)) reads 0xff (chain broken)"))
                return
            }
            capabilities.append((id, offset))
            decodeStandard(id: id, offset: offset, config: config, anomalies: &anomalies)
            offset = Int(next & 0xfc)
        }
    }

    private mutating func decodeStandard(id: UInt8, offset: Int, config: ConfigSpace, anomalies: inout [ConfigAnomaly])
    {
        func truncated(_ name: String) {
            anomalies.append(.init(.capabilityTruncated, "\(name) capability at 0x\(hex(offset, width: 2)) is cut off"))
        }
        switch id {
        case PCIExpressCapability.id where express == nil:
            express = PCIExpressCapability(config: config, offset: offset)
            if express == nil { truncated("PCI Express") }
        case PowerManagementCapability.id where powerManagement == nil:
            powerManagement = PowerManagementCapability(config: config, offset: offset)
            if powerManagement == nil { truncated("Power Management") }
        case MSICapability.id where msi == nil:
            msi = MSICapability(config: config, offset: offset)
        case MSIXCapability.id where msix == nil:
            msix = MSIXCapability(config: config, offset: offset)
        case AdvancedFeaturesCapability.id where advancedFeatures == nil:
            advancedFeatures = AdvancedFeaturesCapability(config: config, offset: offset)
        default:
            break
        }
    }

    private mutating func walkExtendedCapabilities(_ config: ConfigSpace, anomalies: inout [ConfigAnomaly]) {
        var offset = ConfigRegister.extendedCapabilitiesStart
        var visited = Set<Int>()
        while true {
            guard let header = config.u32(offset) else {
                anomalies.append(
                    .init(
                        .pointerOutOfRange,
                        "extended capability at 0x\(hex(offset, width: 3)) is beyond the \(config.count) readable bytes"
                    ))
                return
            }
            // A zero header at 0x100 means "no extended capabilities" (PCIe base spec 7.6.3).
            if header == 0 { return }
            guard visited.insert(offset).inserted else {
                anomalies.append(.init(.loop, "extended capability list loops back to 0x\(hex(offset, width: 3))"))
                return
            }
            let id = UInt16(header & 0xffff)
            if id == 0xffff {
                anomalies.append(
                    .init(
                        .pointerOutOfRange,
                        "extended capability at 0x\(hex(offset, width: 3)) reads 0xffff (chain broken)"))
                return
            }
            extendedCapabilities.append((id, UInt8((header >> 16) & 0xf), offset))
            decodeExtended(id: id, offset: offset, config: config, anomalies: &anomalies)
            let next = Int(header >> 20) & 0xffc
            if next == 0 { return }
            guard next >= ConfigRegister.extendedCapabilitiesStart else {
                anomalies.append(
                    .init(
                        .pointerOutOfRange,
                        "extended capability at 0x\(hex(offset, width: 3)) points back into the first 256 bytes (0x\(hex(next, width: 3)))"
                    ))
                return
            }
            offset = next
        }
    }

    private mutating func decodeExtended(id: UInt16, offset: Int, config: ConfigSpace, anomalies: inout [ConfigAnomaly])
    {
        func truncated(_ name: String) {
            anomalies.append(.init(.capabilityTruncated, "\(name) capability at 0x\(hex(offset, width: 3)) is cut off"))
        }
        switch id {
        case ACSCapability.id where acs == nil:
            acs = ACSCapability(config: config, offset: offset)
            if acs == nil { truncated("ACS") }
        case AERCapability.id where aer == nil:
            aer = AERCapability(config: config, offset: offset)
        case SRIOVCapability.id where sriov == nil:
            sriov = SRIOVCapability(config: config, offset: offset)
            if sriov == nil { truncated("SR-IOV") }
        case ARICapability.id where ari == nil:
            ari = ARICapability(config: config, offset: offset)
        case DPCCapability.id where dpc == nil:
            dpc = DPCCapability(config: config, offset: offset)
            if dpc == nil { truncated("DPC") }
        case SerialNumberCapability.id where serialNumber == nil:
            serialNumber = SerialNumberCapability(config: config, offset: offset)
        default:
            break
        }
    }
}
