import Analysis
import PCIModel
import TestSupport
import Testing

@Suite("Reset methods, their source, and what a bus reset also resets")
struct ResetCapabilityTests {
    @Test("reset_method as the kernel wrote it, or config space on kernels without it")
    func sources() {
        let model = BusResetHost.model()
        let sibling = ResetCapability(of: model[BusResetHost.sibling]!, in: model)
        #expect(sibling.methods == [.flr, .pm] && sibling.source == .resetMethod)
        #expect(sibling.busResetAlsoResets.isEmpty && sibling.canResetAlone)
        // 00:02.0 has FLR and NoSoftRst+, on the root bus: flr only, from config space.
        let root = ResetCapability(of: model[BusResetHost.rootEndpoint]!, in: model)
        #expect(root.methods == [.flr] && root.source == .configSpace && root.busResetBridge == nil)
        // Without reset_method, 01:00.0 (no FLR, NoSoftRst+, a bus-mate) has no method at all.
        let old = BusResetHost.model(busOnlyMethods: nil)
        let derived = ResetCapability(of: old[BusResetHost.busOnly]!, in: old)
        #expect(derived.methods.isEmpty && derived.source == .configSpace && !derived.canResetAlone)
    }

    @Test("bus only, with a bus-mate: names it, the listing is stale, no reset of its own")
    func busOnlyWithSibling() {
        let model = BusResetHost.model()
        let reset = ResetCapability(of: model[BusResetHost.busOnly]!, in: model)
        #expect(reset.methods == [.bus] && reset.source == .resetMethod)
        #expect(reset.busResetBridge == BusResetHost.port)
        #expect(reset.busResetAlsoResets == [BusResetHost.sibling])
        #expect(reset.busListingStale && reset.busResetOnly && !reset.canResetAlone)
        let assessment = InspectReport(model: model).assessment(of: BusResetHost.busOnly)
        let reason = assessment?.reasons.first { $0.code == .noReset }
        #expect(reason?.message.contains("0000:01:00.1") == true)
        #expect(reason?.message.contains("reset_method lists bus") == true)
        #expect(reason?.related == ["0000:01:00.1"])
    }

    @Test("alone on its bus: bus is its own reset; below a bridge everything further down and VFs count")
    func depthAndVFs() {
        // 00:1c.0 → bus 1: 01:00.0 (bus only), bridge 01:01.0 → bus 2: 02:00.0; VF 01:00.2.
        var port = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0xa110, classCode: 0x060400, headerType: 1)
        port.setBuses(primary: 0, secondary: 1, subordinate: 2)
        port.addExpress(type: .rootPort)
        var bridge = ConfigSpaceBuilder(vendorID: 0x111d, deviceID: 0x8018, classCode: 0x060400, headerType: 1)
        bridge.setBuses(primary: 1, secondary: 2, subordinate: 2)
        bridge.addExpress(type: .downstreamPort)
        var devices = [
            Hosts.device("00:1c.0", port), Hosts.device("01:00.0", Hosts.endpoint(flr: false)),
            Hosts.device("01:01.0", bridge), Hosts.device("02:00.0", Hosts.endpoint()),
            Hosts.device("01:00.2", Hosts.endpoint()),
        ]
        devices[1].resetMethods = [.bus]
        devices[4].physicalFunction = PCIAddress("01:00.0")
        let model = Hosts.model(devices)
        let reset = ResetCapability(of: model[PCIAddress("01:00.0")!]!, in: model)
        #expect(reset.busResetAlsoResets.map(\.description) == ["0000:01:00.2", "0000:01:01.0", "0000:02:00.0"])
        // Alone (bridge and VF removed): the bus reset is its own, nothing else is hit.
        let alone = Hosts.model([devices[0], devices[1]])
        let own = ResetCapability(of: alone[PCIAddress("01:00.0")!]!, in: alone)
        #expect(own.busResetAlsoResets.isEmpty && !own.busListingStale && own.canResetAlone && own.busResetOnly)
        let reason = InspectReport(model: alone).assessment(of: PCIAddress("01:00.0")!)?.reasons.first {
            $0.code == .resetBusOnly
        }
        #expect(reason?.message == "reset only by secondary bus reset of the parent bridge 0000:00:1c.0 (reset_method)")
    }
}
