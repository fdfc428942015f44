/// The PCI Express capability (capability ID 0x10, PCIe base spec 7.5.3).
public struct PCIExpressCapability: Sendable, Equatable {
    /// Device/Port Type, bits 7:4 of the PCI Express Capabilities register (+0x02).
    public enum PortType: UInt8, Sendable, CaseIterable {
        case endpoint = 0x0
        case legacyEndpoint = 0x1
        case rootPort = 0x4
        case upstreamPort = 0x5
        case downstreamPort = 0x6
        /// PCI Express to PCI/PCI-X bridge: everything behind it shares its requester ID.
        case pcieToPCIBridge = 0x7
        /// PCI/PCI-X to PCI Express bridge.
        case pciToPCIeBridge = 0x8
        case rootComplexIntegratedEndpoint = 0x9
        case rootComplexEventCollector = 0xa

        /// The stable name used in JSON output.
        public var jsonName: String {
            switch self {
            case .endpoint: "endpoint"
            case .legacyEndpoint: "legacy-endpoint"
            case .rootPort: "root-port"
            case .upstreamPort: "upstream-port"
            case .downstreamPort: "downstream-port"
            case .pcieToPCIBridge: "pcie-to-pci-bridge"
            case .pciToPCIeBridge: "pci-to-pcie-bridge"
            case .rootComplexIntegratedEndpoint: "rc-integrated-endpoint"
            case .rootComplexEventCollector: "rc-event-collector"
            }
        }
    }

    public static let id: UInt8 = 0x10

    /// Offset of the capability in config space.
    public var offset: Int
    /// Capability version, bits 3:0 of +0x02.
    public var version: UInt8
    /// nil when the type field holds a reserved value (reported as an anomaly).
    public var portType: PortType?
    public var rawPortType: UInt8
    /// Slot Implemented, bit 8 of +0x02 (root and downstream ports).
    public var slotImplemented: Bool
    /// Device Capabilities register (+0x04).
    public var deviceCapabilities: UInt32

    /// Function Level Reset Capability, DevCap bit 28.
    public var supportsFLR: Bool { deviceCapabilities & (1 << 28) != 0 }

    init?(config: ConfigSpace, offset: Int) {
        guard let flags = config.u16(offset + 2), let devCap = config.u32(offset + 4) else { return nil }
        self.offset = offset
        version = UInt8(flags & 0xf)
        rawPortType = UInt8((flags >> 4) & 0xf)
        portType = PortType(rawValue: rawPortType)
        slotImplemented = flags & (1 << 8) != 0
        deviceCapabilities = devCap
    }
}
