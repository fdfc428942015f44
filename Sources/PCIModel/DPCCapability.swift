/// Downstream Port Containment extended capability (ID 0x001d; PCIe Base 6.0 §7.9.14): a
/// Root or Downstream Port that, on an uncorrectable error below it, takes its link down and
/// holds it there until software (the kernel's DPC service, drivers/pci/pcie/dpc.c) recovers
/// it through the same error-recovery path AER uses (drivers/pci/pcie/err.c). The registers
/// are kept raw; the fields are the spec's, named as lspci names them (`ls-ecaps.c`, cap_dpc).
public struct DPCCapability: Sendable, Equatable {
    public static let id: UInt16 = 0x001d

    /// DPC Trigger Enable (DPC Control bits 1:0): which errors make the port contain.
    public enum Trigger: UInt8, Sendable {
        case disabled = 0
        /// ERR_FATAL only.
        case fatal = 1
        /// ERR_NONFATAL or ERR_FATAL.
        case nonFatalOrFatal = 2
        case reserved = 3

        /// The JSON spelling.
        public var name: String {
            switch self {
            case .disabled: "off"
            case .fatal: "fatal"
            case .nonFatalOrFatal: "non-fatal-or-fatal"
            case .reserved: "reserved"
            }
        }
    }

    /// DPC Trigger Reason (DPC Status bits 2:1).
    public enum TriggerReason: UInt8, Sendable {
        case unmaskedUncorrectable = 0
        case errNonFatal = 1
        case errFatal = 2
        /// See DPC Trigger Reason Extension (bits 6:5): RP PIO error, software trigger, …
        case seeExtension = 3

        public var name: String {
            switch self {
            case .unmaskedUncorrectable: "unmasked uncorrectable error"
            case .errNonFatal: "ERR_NONFATAL received"
            case .errFatal: "ERR_FATAL received"
            case .seeExtension: "see trigger reason extension"
            }
        }
    }

    public var offset: Int
    /// DPC Capability (+0x04), DPC Control (+0x06), DPC Status (+0x08), DPC Error Source ID (+0x0a).
    public var capability: UInt16
    public var control: UInt16
    public var status: UInt16
    public var errorSourceID: UInt16

    init?(config: ConfigSpace, offset: Int) {
        guard let capability = config.u16(offset + 0x04), let control = config.u16(offset + 0x06),
            let status = config.u16(offset + 0x08), let source = config.u16(offset + 0x0a)
        else { return nil }
        self.offset = offset
        self.capability = capability
        self.control = control
        self.status = status
        errorSourceID = source
    }

    // DPC Capability
    /// Bits 4:0: DPC Interrupt Message Number.
    public var interruptMessageNumber: Int { Int(capability & 0x1f) }
    /// Bit 5: RP Extensions for DPC (Root Ports only).
    public var rootPortExtensions: Bool { capability & 0x20 != 0 }
    /// Bit 6: Poisoned TLP Egress Blocking Supported.
    public var poisonedTLPBlockingSupported: Bool { capability & 0x40 != 0 }
    /// Bit 7: DPC Software Triggering Supported.
    public var softwareTriggerSupported: Bool { capability & 0x80 != 0 }
    /// Bits 11:8: RP PIO Log Size.
    public var rpPIOLogSize: Int { Int(capability >> 8 & 0xf) }
    /// Bit 12: DL_Active ERR_COR Signaling Supported.
    public var dlActiveErrCorSupported: Bool { capability & 0x1000 != 0 }

    // DPC Control
    public var trigger: Trigger { Trigger(rawValue: UInt8(control & 0x3)) ?? .reserved }
    /// Bit 2: DPC Completion Control (completer abort rather than unsupported request).
    public var completionControl: Bool { control & 0x4 != 0 }
    /// Bit 3: DPC Interrupt Enable.
    public var interruptEnabled: Bool { control & 0x8 != 0 }
    /// Bit 4: DPC ERR_COR Enable.
    public var errCorEnabled: Bool { control & 0x10 != 0 }
    /// Bit 5: Poisoned TLP Egress Blocking Enable.
    public var poisonedTLPBlockingEnabled: Bool { control & 0x20 != 0 }
    /// Bit 6: DPC Software Trigger.
    public var softwareTrigger: Bool { control & 0x40 != 0 }
    /// Bit 7: DL_Active ERR_COR Enable.
    public var dlActiveErrCorEnabled: Bool { control & 0x80 != 0 }

    // DPC Status
    /// Bit 0: DPC Trigger Status: the port is containing now (its link is held down).
    public var triggered: Bool { status & 0x1 != 0 }
    /// Bits 2:1: DPC Trigger Reason.
    public var triggerReason: TriggerReason { TriggerReason(rawValue: UInt8(status >> 1 & 0x3)) ?? .seeExtension }
    /// Bit 3: DPC Interrupt Status.
    public var interruptStatus: Bool { status & 0x8 != 0 }
    /// Bit 4: DPC RP Busy.
    public var rootPortBusy: Bool { status & 0x10 != 0 }
    /// Bits 6:5: DPC Trigger Reason Extension (0 RP PIO error, 1 software trigger).
    public var triggerReasonExtension: Int { Int(status >> 5 & 0x3) }
    /// Bits 12:8: RP PIO First Error Pointer.
    public var rpPIOFirstErrorPointer: Int { Int(status >> 8 & 0x1f) }

    /// Whether an uncorrectable error below the port makes it contain (trigger enabled).
    public var contains: Bool { trigger != .disabled && trigger != .reserved }
}
