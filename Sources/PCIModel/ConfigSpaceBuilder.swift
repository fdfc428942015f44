/// Builds config-space bytes register by register, for generated hosts (benchmarks, the
/// seed host's IDT switch) and for tests of malformed chains. Layouts follow the PCI and
/// PCIe base specifications; the decoder in this module reads them back.
public struct ConfigSpaceBuilder: Sendable {
    public private(set) var bytes: [UInt8]
    private var lastCapability: Int?
    private var nextCapability = 0x40
    private var lastExtended: Int?
    private var nextExtended = 0x100

    /// A function with the given identity. `headerType` 0 = endpoint, 1 = PCI-to-PCI bridge.
    public init(
        vendorID: UInt16, deviceID: UInt16, classCode: UInt32, revision: UInt8 = 0, headerType: UInt8 = 0,
        multifunction: Bool = false, size: Int = 4096
    ) {
        bytes = [UInt8](repeating: 0, count: size)
        set16(0x00, vendorID)
        set16(0x02, deviceID)
        set16(0x04, 0x0406)  // Memory Space, Bus Master, INTx disabled
        bytes[0x08] = revision
        bytes[0x09] = UInt8(classCode & 0xff)
        bytes[0x0a] = UInt8((classCode >> 8) & 0xff)
        bytes[0x0b] = UInt8((classCode >> 16) & 0xff)
        bytes[0x0e] = headerType | (multifunction ? 0x80 : 0)
    }

    public mutating func set8(_ offset: Int, _ value: UInt8) { bytes[offset] = value }

    public mutating func set16(_ offset: Int, _ value: UInt16) {
        bytes[offset] = UInt8(value & 0xff)
        bytes[offset + 1] = UInt8(value >> 8)
    }

    public mutating func set32(_ offset: Int, _ value: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8((value >> (8 * UInt32(i))) & 0xff) }
    }

    /// Subsystem Vendor ID / Subsystem ID of a type 0 header (0x2c/0x2e).
    public mutating func setSubsystem(vendorID: UInt16, id: UInt16) {
        set16(0x2c, vendorID)
        set16(0x2e, id)
    }

    /// Primary, secondary and subordinate bus numbers of a type 1 header (0x18–0x1a).
    public mutating func setBuses(primary: UInt8, secondary: UInt8, subordinate: UInt8) {
        bytes[0x18] = primary
        bytes[0x19] = secondary
        bytes[0x1a] = subordinate
    }

    // MARK: - Standard capabilities

    /// Appends a capability (ID, next pointer, then `body`) and links it into the list.
    @discardableResult
    public mutating func addCapability(id: UInt8, body: [UInt8]) -> Int {
        let offset = nextCapability
        bytes[offset] = id
        bytes[offset + 1] = 0
        for (i, byte) in body.enumerated() { bytes[offset + 2 + i] = byte }
        if let last = lastCapability { bytes[last + 1] = UInt8(offset) } else { bytes[0x34] = UInt8(offset) }
        bytes[0x06] |= 0x10  // Status: Capabilities List
        lastCapability = offset
        nextCapability = (offset + 2 + body.count + 3) & ~3
        return offset
    }

    /// PCI Express capability v2 with the given port type, FLR and Slot Implemented bits.
    @discardableResult
    public mutating func addExpress(
        type: PCIExpressCapability.PortType, flr: Bool = false, slot: Bool = false, version: UInt8 = 2
    ) -> Int {
        let flags = UInt16(version) | UInt16(type.rawValue) << 4 | (slot ? 1 << 8 : 0)
        var body = [UInt8](repeating: 0, count: 0x3a)
        body[0] = UInt8(flags & 0xff)
        body[1] = UInt8(flags >> 8)
        let devCap: UInt32 = 0x0000_8001 | (flr ? 1 << 28 : 0)  // MPS 256, RBE
        for i in 0..<4 { body[2 + i] = UInt8((devCap >> (8 * UInt32(i))) & 0xff) }
        return addCapability(id: PCIExpressCapability.id, body: body)
    }

    /// Power Management capability; `noSoftReset` sets PMCSR bit 3.
    @discardableResult
    public mutating func addPowerManagement(noSoftReset: Bool) -> Int {
        addCapability(id: PowerManagementCapability.id, body: [0x03, 0xc8, noSoftReset ? 0x08 : 0x00, 0, 0, 0])
    }

    @discardableResult
    public mutating func addMSIX(tableSize: Int) -> Int {
        let control = UInt16(tableSize - 1) & 0x7ff
        return addCapability(
            id: MSIXCapability.id, body: [UInt8(control & 0xff), UInt8(control >> 8), 3, 0, 0, 0, 3, 0x20, 0, 0])
    }

    @discardableResult
    public mutating func addMSI() -> Int {
        addCapability(id: MSICapability.id, body: [0x80, 0x01] + [UInt8](repeating: 0, count: 20))
    }

    // MARK: - Extended capabilities

    /// Appends an extended capability (header, then `body`) and links it into the chain.
    @discardableResult
    public mutating func addExtended(id: UInt16, version: UInt8 = 1, body: [UInt8]) -> Int {
        let offset = nextExtended
        set32(offset, UInt32(id) | UInt32(version) << 16)
        for (i, byte) in body.enumerated() { bytes[offset + 4 + i] = byte }
        if let last = lastExtended {
            let header = UInt32(bytes[last]) | UInt32(bytes[last + 1]) << 8 | UInt32(bytes[last + 2]) << 16
            set32(last, header & 0x000f_ffff | UInt32(offset) << 20)
        }
        lastExtended = offset
        nextExtended = (offset + 4 + body.count + 15) & ~15
        return offset
    }

    @discardableResult
    public mutating func addAER() -> Int {
        addExtended(id: AERCapability.id, body: [UInt8](repeating: 0, count: 0x44))
    }

    @discardableResult
    public mutating func addACS(capability: ACSFlags, control: ACSFlags) -> Int {
        addExtended(
            id: ACSCapability.id,
            body: [
                UInt8(capability.rawValue & 0xff), UInt8(capability.rawValue >> 8),
                UInt8(control.rawValue & 0xff), UInt8(control.rawValue >> 8),
            ])
    }

    /// DPC capability (PCIe Base §7.9.14) with the given DPC Capability, Control, Status and
    /// Error Source ID registers, and room for the Root Port PIO registers.
    @discardableResult
    public mutating func addDPC(capability: UInt16, control: UInt16, status: UInt16 = 0, source: UInt16 = 0) -> Int {
        let registers = [capability, control, status, source].flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        return addExtended(id: DPCCapability.id, body: registers + [UInt8](repeating: 0, count: 0x4c))
    }

    @discardableResult
    public mutating func addARI(nextFunction: UInt8) -> Int {
        addExtended(id: ARICapability.id, body: [0, nextFunction, 0, 0])
    }

    /// SR-IOV capability (SR-IOV spec 3.3) with VF Enable set when `numVFs` > 0.
    @discardableResult
    public mutating func addSRIOV(
        totalVFs: UInt16, numVFs: UInt16, firstVFOffset: UInt16, vfStride: UInt16, vfDeviceID: UInt16
    )
        -> Int
    {
        var body = [UInt8](repeating: 0, count: 0x3c)
        func put16(_ at: Int, _ value: UInt16) {
            body[at - 4] = UInt8(value & 0xff)
            body[at - 3] = UInt8(value >> 8)
        }
        put16(0x08, numVFs > 0 ? 0x0009 : 0)  // VF Enable | VF MSE
        put16(0x0c, totalVFs)
        put16(0x0e, totalVFs)
        put16(0x10, numVFs)
        put16(0x14, firstVFOffset)
        put16(0x16, vfStride)
        put16(0x1a, vfDeviceID)
        body[0x1c - 4] = 0x53
        body[0x1d - 4] = 0x05
        body[0x20 - 4] = 0x01
        return addExtended(id: SRIOVCapability.id, body: body)
    }
}
