import Analysis
import HostAccess
import PCIModel
import TestSupport
import Testing

@Suite("IOMMU group prediction by the kernel's rules")
struct GroupPredictionTests {
    @Test("tree-asus-p6t6 as dumped: X58 ports have ACS but control is off, so subtrees join their port")
    func asusAsDumped() throws {
        let prediction = GroupPrediction(model: try Fixtures.model(dump: "tree-asus-p6t6"))
        // Root port 3 with the NF200 switch and the SAS controller below it.
        #expect(
            prediction.members(of: "0000:04:00.0") == [
                "0000:00:03.0", "0000:02:00.0", "0000:03:00.0", "0000:03:02.0", "0000:04:00.0",
            ])
        // Root port 7 with both functions of the GeForce.
        #expect(prediction.members(of: "0000:06:00.1") == ["0000:00:07.0", "0000:06:00.0", "0000:06:00.1"])
        // A root port on the root bus with nothing below is alone.
        #expect(prediction.members(of: "0000:00:01.0") == ["0000:00:01.0"])
        // ICH10 root ports: one multifunction slot without ACS: all three ports and both NICs.
        #expect(
            prediction.members(of: "0000:07:00.0") == [
                "0000:00:1c.0", "0000:00:1c.1", "0000:00:1c.2", "0000:07:00.0", "0000:08:00.0",
            ])
        // Conventional multifunction devices on the root bus share a group per slot.
        #expect(prediction.members(of: "0000:00:1f.2") == ["0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"])
        #expect(prediction.groups.count == 18)
    }

    @Test("tree-asus-p6t6 with ACS switched on at the X58 ports splits the switch from its port")
    func asusWithACS() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        let ports = ["0000:00:01.0", "0000:00:03.0", "0000:00:07.0"].compactMap { PCIAddress($0) }
        let policy = ACSPolicy(
            controlOverrides: Dictionary(uniqueKeysWithValues: ports.map { ($0, ACSFlags.requiredForIsolation) }))
        let prediction = GroupPrediction(model: model, policy: policy)
        #expect(prediction.members(of: "0000:00:03.0") == ["0000:00:03.0"])
        #expect(prediction.members(of: "0000:02:00.0") == ["0000:02:00.0"])
        // The NF200 downstream ports have no ACS: the SAS controller shares its port's group.
        #expect(prediction.members(of: "0000:04:00.0") == ["0000:03:00.0", "0000:04:00.0"])
        #expect(prediction.members(of: "0000:03:02.0") == ["0000:03:02.0"])
        // The GPU's functions have no ACS: still together, now without the port.
        #expect(prediction.members(of: "0000:06:00.0") == ["0000:06:00.0", "0000:06:00.1"])
    }

    @Test("a PCIe-to-PCI bridge takes over the requester ID of everything behind it")
    func dmaAlias() {
        var bridge = ConfigSpaceBuilder(vendorID: 0x1b36, deviceID: 0x000e, classCode: 0x060400, headerType: 1)
        bridge.setBuses(primary: 1, secondary: 2, subordinate: 2)
        bridge.addExpress(type: .pcieToPCIBridge)
        let conventional = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x100e, classCode: 0x020000)
        let model = Hosts.model([
            Hosts.device("0000:00:1c.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", bridge),
            Hosts.device("0000:02:01.0", conventional),
            Hosts.device("0000:02:02.0", conventional),
        ])
        let prediction = GroupPrediction(model: model)
        #expect(prediction.members(of: "0000:02:01.0") == ["0000:01:00.0", "0000:02:01.0", "0000:02:02.0"])
        #expect(prediction.members(of: "0000:00:1c.0") == ["0000:00:1c.0"])
        #expect(
            GroupPrediction.dmaAliasRepresentative(of: model[PCIAddress("02:02.0")!]!, in: model).address.description
                == "0000:01:00.0")
    }

    @Test("multifunction functions without ACS share a group; one with ACS stands alone")
    func multifunction() {
        var withACS = Hosts.endpoint(multifunction: true)
        withACS.addACS(
            capability: [.sourceValidation, .requestRedirect, .completionRedirect],
            control: [.sourceValidation, .requestRedirect, .completionRedirect])
        let isolated = Hosts.model([
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", withACS), Hosts.device("0000:01:00.1", withACS),
        ])
        #expect(GroupPrediction(model: isolated).members(of: "0000:01:00.0") == ["0000:01:00.0"])
        // get_pci_function_alias_group() skips siblings that have ACS: the ACS function is
        // alone, and so is its ACS-less sibling.
        let mixed = Hosts.model([
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", withACS), Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: true)),
        ])
        #expect(GroupPrediction(model: mixed).members(of: "0000:01:00.0") == ["0000:01:00.0"])
        #expect(GroupPrediction(model: mixed).members(of: "0000:01:00.1") == ["0000:01:00.1"])
        let shared = Hosts.model([
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true)),
            Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: true)),
        ])
        #expect(GroupPrediction(model: shared).members(of: "0000:01:00.0") == ["0000:01:00.0", "0000:01:00.1"])
    }

    @Test("the seed host: everything behind the IDT switch shares one group with X58 root port 3")
    func seedHost() throws {
        let model = try SeedHost.model()
        let prediction = GroupPrediction(model: model)
        #expect(
            prediction.members(of: "0000:05:00.1") == [
                "0000:00:03.0", "0000:02:00.0", "0000:03:02.0", "0000:03:04.0",
                "0000:04:00.0", "0000:04:00.1", "0000:05:00.0", "0000:05:00.1",
            ])
        #expect(prediction.members(of: "0000:00:00.0") == ["0000:00:00.0"])
        // With ACS on at the root port, the IDT downstream ports (no ACS) still keep each
        // 82576 with its own port, apart from the other.
        let onAtPort = GroupPrediction(
            model: model, policy: ACSPolicy(controlOverrides: [PCIAddress("00:03.0")!: .requiredForIsolation]))
        #expect(onAtPort.members(of: "0000:04:00.0") == ["0000:03:02.0", "0000:04:00.0", "0000:04:00.1"])
        #expect(onAtPort.members(of: "0000:05:00.0") == ["0000:03:04.0", "0000:05:00.0", "0000:05:00.1"])
    }
}

@Suite("Multifunction as the kernel sees it")
struct MultifunctionTests {
    @Test("function 1 without the header bit still counts (pci_scan_slot), so both functions share a group")
    func functionOneWithoutHeaderBit() {
        // As QEMU builds `-device e1000e,addr=0.0,multifunction=on` plus `addr=0.1`: only
        // function 0 has header bit 7. Found by the real-kernel lab (scenario multifunction).
        let devices = [
            Hosts.device("0000:00:01.0", Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)),
            Hosts.device("0000:01:00.0", Hosts.endpoint(multifunction: true)),
            Hosts.device("0000:01:00.1", Hosts.endpoint(multifunction: false)),
        ]
        let model = Hosts.model(devices)
        #expect(model[PCIAddress("01:00.1")!]?.isMultifunction == true)
        #expect(GroupPrediction(model: model).members(of: "0000:01:00.1") == ["0000:01:00.0", "0000:01:00.1"])
    }

    @Test("an SR-IOV VF is never multifunction, whatever its function number")
    func virtualFunctions() {
        var vf = Hosts.device("0000:01:00.3", Hosts.endpoint())
        vf.physicalFunction = PCIAddress("01:00.0")
        #expect(!vf.isMultifunction)
    }
}
