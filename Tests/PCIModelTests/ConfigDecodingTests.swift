import HostAccess
import PCIModel
import TestSupport
import Testing

@Suite("Config-space decoding on real bytes")
struct ConfigDecodingTests {
    @Test("82576 PF (cap-pcie-2): SR-IOV, ARI, DSN, FLR, MSI-X, multifunction")
    func kawela() throws {
        let model = try Fixtures.model(dump: "cap-pcie-2")
        let device = try #require(model[PCIAddress(bus: 1, device: 0, function: 0)])
        let config = device.config
        #expect(device.ids == "8086:10c9")
        #expect(config.isMultifunction)
        #expect(config.express?.portType == .endpoint)
        #expect(config.express?.supportsFLR == true)
        #expect(config.msix?.tableSize == 10)
        #expect(config.msix?.enabled == true)
        #expect(config.aer?.offset == 0x100)
        let sriov = try #require(config.sriov)
        #expect(sriov.offset == 0x160)
        #expect(sriov.initialVFs == 8)
        #expect(sriov.totalVFs == 8)
        #expect(sriov.numVFs == 1)
        #expect(sriov.firstVFOffset == 384)
        #expect(sriov.vfStride == 2)
        #expect(sriov.vfDeviceID == 0x10ca)
        #expect(sriov.vfEnabled)
        #expect(config.ari?.nextFunction == 1)
        #expect(config.serialNumber?.serialNumber == 0x001b_21ff_ff2b_46e0)
        #expect(config.acs == nil)
        #expect(config.anomalies.isEmpty)
        #expect(device.name?.contains("82576") == true)
        #expect(device.driver == "igb")
    }

    @Test("X58 root port 3 (tree-asus-p6t6): ACS capability SV TB RR CR UF, control off")
    func x58RootPort() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        let port = try #require(model[PCIAddress(bus: 0, device: 3, function: 0)])
        #expect(port.config.express?.portType == .rootPort)
        #expect(port.config.acs?.capability.rawValue == 0x001f)
        #expect(port.config.acs?.control.rawValue == 0)
        #expect(port.config.secondaryBus == 2)
        #expect(port.config.subordinateBus == 5)
        #expect(port.config.readableLength == 4096)
        // The NF200 switch below it is found through the bridge's bus range.
        #expect(model[PCIAddress(bus: 2, device: 0, function: 0)]?.parent == port.address)
        #expect(model[PCIAddress(bus: 4, device: 0, function: 0)]?.parent == PCIAddress(bus: 3, device: 0, function: 0))
    }

    @Test("bytes above 0x100 of a conventional function are reported, not decoded (broken-ecaps)")
    func brokenExtendedCapabilities() throws {
        let model = try Fixtures.model(dump: "broken-ecaps")
        let device = try #require(model.devices.first)
        #expect(device.config.extendedCapabilities.isEmpty)
        #expect(device.config.anomalies.map(\.kind) == [.extendedSpaceInvalid])
        #expect(device.config.anomalies.first?.message.contains("repeat the header") == true)
    }

    @Test("a standard capability list that loops is cut at the loop")
    func standardLoop() {
        var builder = ConfigSpaceBuilder(vendorID: 0x1234, deviceID: 0x5678, classCode: 0x020000)
        let first = builder.addPowerManagement(noSoftReset: true)
        let second = builder.addMSI()
        builder.set8(second + 1, UInt8(first))  // MSI points back at PM
        let config = DecodedConfig(ConfigSpace(builder.bytes))
        #expect(config.capabilities.map(\.offset) == [first, second])
        #expect(config.anomalies.map(\.kind) == [.loop])
        #expect(config.powerManagement?.noSoftReset == true)
    }

    @Test("a pointer into the header and an extended pointer below 0x100 are anomalies")
    func badPointers() {
        var builder = ConfigSpaceBuilder(vendorID: 0x1234, deviceID: 0x5678, classCode: 0x020000)
        builder.addExpress(type: .endpoint)
        let msi = builder.addMSI()
        builder.set8(msi + 1, 0x10)
        let aer = builder.addAER()
        builder.set32(aer, 0x0400_0000 | 0x0001_0001)  // next = 0x040
        let config = DecodedConfig(ConfigSpace(builder.bytes))
        #expect(config.anomalies.map(\.kind) == [.pointerOutOfRange, .pointerOutOfRange])
        #expect(config.aer != nil)
        #expect(config.extendedCapabilities.count == 1)
    }

    @Test("64 bytes (an unprivileged read) decode without extended capabilities and say so")
    func truncated() throws {
        let model = try Fixtures.model(dump: "cap-pcie-2")
        let bytes = try #require(model.configBytes[PCIAddress(bus: 1, device: 0, function: 0)])
        let config = DecodedConfig(ConfigSpace(Array(bytes.prefix(64))))
        #expect(config.vendorID == 0x8086)
        #expect(config.sriov == nil && config.express == nil)
        #expect(config.anomalies.first?.kind == .truncated)
        #expect(config.anomalies.contains { $0.kind == .pointerOutOfRange })
    }

    @Test("a capability cut off by the end of config space is reported")
    func cutOffCapability() {
        var builder = ConfigSpaceBuilder(vendorID: 0x1234, deviceID: 0x5678, classCode: 0x020000, size: 256)
        builder.set16(0x06, 0x10)
        builder.set8(0x34, 0xfc)
        builder.set8(0xfc, PCIExpressCapability.id)
        let config = DecodedConfig(ConfigSpace(builder.bytes))
        #expect(config.express == nil)
        #expect(config.anomalies.map(\.kind) == [.capabilityTruncated])
    }

    @Test("ConfigSpaceBuilder output reads back through the decoder")
    func builderRoundTrip() {
        var builder = ConfigSpaceBuilder(vendorID: 0x10b5, deviceID: 0x8747, classCode: 0x060400, headerType: 1)
        builder.setBuses(primary: 1, secondary: 2, subordinate: 9)
        builder.addExpress(type: .downstreamPort, slot: true)
        builder.addAER()
        builder.addACS(capability: [.sourceValidation, .requestRedirect], control: [.requestRedirect])
        builder.addSRIOV(totalVFs: 4, numVFs: 2, firstVFOffset: 8, vfStride: 1, vfDeviceID: 0xabcd)
        let config = DecodedConfig(ConfigSpace(builder.bytes))
        #expect(config.layout == .bridge)
        #expect(config.express?.portType == .downstreamPort)
        #expect(config.express?.slotImplemented == true)
        #expect(config.acs?.capability == [.sourceValidation, .requestRedirect])
        #expect(config.acs?.control == [.requestRedirect])
        #expect(config.sriov?.numVFs == 2)
        #expect(config.sriov?.vfDeviceID == 0xabcd)
        #expect(config.extendedCapabilities.map(\.id) == [AERCapability.id, ACSCapability.id, SRIOVCapability.id])
        #expect(config.subordinateBus == 9)
    }
}
