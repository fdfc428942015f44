import Actions
import PCIModel
import TestSupport
import Testing

/// `[[expect-group]]` against hosts a hostile review built: renumbered groups a `group:N`
/// target would follow, VFs that come and go, pins without ids, and a function that moved
/// into a pinned function's group.
@Suite("Pinned group expectations")
struct GroupExpectationTests {
    /// 01:00.0 and 01:00.1 (a PF and its sibling) in group `pinned`; 02:00.0 in group `other`;
    /// optionally a VF of 01:00.0 at 01:10.0 in the PF's group, and 02:00.0 moved in.
    static func host(pinned: Int = 3, other: Int = 4, vf: Bool = false, moved: Bool = false) -> HostModel {
        var devices = [
            Hosts.device("00:01.0", Hosts.rootPort(secondary: 1, acs: nil), driver: "pcieport", group: pinned),
            Hosts.device("01:00.0", Hosts.endpoint(multifunction: true), driver: "igb", group: pinned),
            Hosts.device("01:00.1", Hosts.endpoint(multifunction: true), driver: "igb", group: pinned),
            Hosts.device("02:00.0", Hosts.endpoint(), driver: "nvme", group: moved ? pinned : other),
        ]
        if vf {
            var function = Hosts.device("01:10.0", Hosts.endpoint(), driver: "igbvf", group: pinned)
            function.physicalFunction = PCIAddress("01:00.0")
            devices.append(function)
        }
        var groups: [Int: [PCIAddress]] = [:]
        for device in devices { groups[device.iommuGroup!, default: []].append(device.address) }
        return Hosts.model(devices, kernelGroups: groups)
    }

    @Test("a pin for a group the file names by number notices the number now belongs to another group")
    func renumbered() {
        let pin = GroupExpectation(group: 3, in: Self.host(), byNumber: true, source: "t")
        #expect(pin.number == 3)
        #expect(pin.mismatches(in: Self.host()).isEmpty)
        // Same functions, numbers swapped: [[bind]] group = 3 would now take the NVMe's group.
        let swapped = pin.mismatches(in: Self.host(pinned: 4, other: 3))
        #expect(swapped == [.renumbered(number: 3, now: 4, anchor: PCIAddress("00:01.0")!)])
        // A pin for an address-named group does not care about numbers.
        let byAddress = GroupExpectation(group: 3, in: Self.host(), source: "t")
        #expect(byAddress.mismatches(in: Self.host(pinned: 4, other: 3)).isEmpty)
    }

    @Test("VFs are not pinned, and a VF of a pinned function in its group is no change")
    func virtualFunctions() {
        let withVF = Self.host(vf: true)
        let pin = GroupExpectation(group: 3, in: withVF, source: "t")
        #expect(!pin.members.contains(PCIAddress("01:10.0")!))
        #expect(pin.mismatches(in: Self.host()).isEmpty)
        #expect(pin.mismatches(in: withVF).isEmpty)
        // Another device moving in is still a change.
        #expect(
            pin.mismatches(in: Self.host(vf: true, moved: true))
                == [.added(PCIAddress("02:00.0")!, anchor: PCIAddress("00:01.0")!)])
    }

    @Test("a pin without ids agrees with the host's group; one with other ids does not")
    func agreement() {
        let host = GroupExpectation(group: 3, in: Self.host(), source: "host")
        let withoutIDs = GroupExpectation(members: host.members, ids: nil, source: "file")
        #expect(withoutIDs.agrees(with: host) && host.agrees(with: withoutIDs))
        var otherIDs = host
        otherIDs.ids = host.ids?.map { _ in GroupExpectation.IDs(vendor: 0x8086, device: 0x1533) }
        #expect(!otherIDs.agrees(with: host))
        var otherNumber = host
        otherNumber.number = 7
        var numbered = host
        numbered.number = 3
        #expect(!otherNumber.agrees(with: numbered) && host.agrees(with: numbered))
    }

    @Test("a guest given a function that moved into a pinned group is concerned by the pin")
    func concerns() {
        let pin = GroupExpectation(group: 3, in: Self.host(), source: "t")
        let nvme: Set<PCIAddress> = [PCIAddress("02:00.0")!]
        #expect(!pin.concerns(nvme, in: Self.host()))
        #expect(pin.concerns(nvme, in: Self.host(moved: true)))
        #expect(!pin.mismatches(in: Self.host(moved: true)).isEmpty)
    }
}
