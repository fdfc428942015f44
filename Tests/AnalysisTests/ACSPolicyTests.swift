import Analysis
import PCIModel
import TestSupport
import Testing

@Suite("pci_acs_enabled() rules")
struct ACSPolicyTests {
    let policy = ACSPolicy()

    @Test("root and downstream ports need the capability and every advertised required bit")
    func ports() {
        let missing = Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: nil))
        #expect(policy.evaluate(missing).rule == .noCapability)
        let partial = Hosts.device(
            "0000:00:01.0", Hosts.rootPort(secondary: 1, acs: [.sourceValidation, .requestRedirect]))
        #expect(policy.evaluate(partial).rule == .controlMissing([.completionRedirect, .upstreamForwarding]))
        let enabled = Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation))
        #expect(policy.evaluate(enabled).enabled)
    }

    @Test("flags the capability does not advertise are not required (hard-wired)")
    func capabilityReducesFlags() {
        var port = ConfigSpaceBuilder(vendorID: 0x10b5, deviceID: 0x8747, classCode: 0x060400, headerType: 1)
        port.addExpress(type: .downstreamPort)
        port.addACS(capability: [.sourceValidation, .requestRedirect], control: [.sourceValidation, .requestRedirect])
        #expect(policy.evaluate(Hosts.device("0000:01:00.0", port)).enabled)
    }

    @Test("single-function endpoints are exempt; multifunction ones need ACS")
    func endpoints() {
        #expect(policy.evaluate(Hosts.device("0000:01:00.0", Hosts.endpoint())).rule == .singleFunctionExempt)
        #expect(
            policy.evaluate(Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true))).rule == .noCapability)
    }

    @Test("conventional PCI and PCIe-to-PCI bridges never isolate")
    func neverIsolate() {
        let conventional = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x244e, classCode: 0x060401, headerType: 1)
        #expect(policy.evaluate(Hosts.device("0000:00:1e.0", conventional)).rule == .conventionalPCI)
        var bridge = ConfigSpaceBuilder(vendorID: 0x1b36, deviceID: 0x000e, classCode: 0x060400, headerType: 1)
        bridge.addExpress(type: .pcieToPCIBridge)
        bridge.addACS(capability: .requiredForIsolation, control: .requiredForIsolation)
        #expect(policy.evaluate(Hosts.device("0000:01:00.0", bridge)).rule == .bridgeTypeExcluded(.pcieToPCIBridge))
    }

    @Test("a quirk answers before the generic rules")
    func quirkFirst() {
        let quirked = ACSPolicy(quirk: { device, _ in device.deviceID == 0x340a ? ("test-quirk", true) : nil })
        let port = Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: nil))
        #expect(quirked.evaluate(port) == ACSEvaluation(enabled: true, rule: .quirk(id: "test-quirk", enabled: true)))
    }
}
