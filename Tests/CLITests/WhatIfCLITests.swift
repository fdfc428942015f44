import Foundation
import TestSupport
import Testing

/// `inspect --assume-…` and `advise` as a user runs them, on the real X58 dump and the
/// seed host: exit statuses, JSON a script reads, and what is refused.
@Suite("What-if and advise from the command line")
struct WhatIfCLITests {
    let asus = Fixtures.directory + "/snapshots/tree-asus-p6t6.tar.gz"

    private func json(_ result: Tool.Result) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
    }

    @Test("--assume-acs on both X58 root ports: exit 0, exact parameter, and slots for a NIC it does not help")
    func whatIf() throws {
        let result = try Tool.vfioctl([
            "inspect", "--snapshot", asus, "--assume-acs", "00:03.0", "--assume-acs", "0000:00:07.0=SV,RR,CR,UF",
            "--json", "06:00.0", "08:00.0",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let document = try json(result)
        #expect(document["kind"] as? String == "what-if")
        let making = try #require((document["makesReal"] as? [[String: Any]])?.first)
        #expect(making["parameter"] as? String == "pci=config_acs=xx111x1@0000:00:03.0;xx111x1@0000:00:07.0")
        let functions = try #require(document["functions"] as? [[String: Any]])
        #expect(functions.map { $0["address"] as? String } == ["0000:06:00.0", "0000:08:00.0"])
        #expect(functions.map { $0["changed"] as? Bool } == [true, false])
        // The Realtek behind ICH10 ports without ACS: no parameter helps, slot 00:01.0 would.
        #expect(functions[1]["isolatingSlots"] as? [String] == ["0000:00:01.0"])
        let after = try #require((functions[0]["after"] as? [String: Any])?["group"] as? [String])
        #expect(after == ["0000:06:00.0", "0000:06:00.1"])
    }

    @Test("a port without an ACS capability is refused with exit 1 and the reason; bad flags are a usage error")
    func refusals() throws {
        let refused = try Tool.vfioctl(["inspect", "--snapshot", asus, "--assume-acs", "03:00.0"])
        #expect(refused.status == 1)
        #expect(
            refused.standardError.contains("no ACS capability") && refused.standardError.contains("pcie_acs_override"))
        #expect(refused.standardOutput.isEmpty)
        let usage = try Tool.vfioctl(["inspect", "--snapshot", asus, "--assume-acs", "00:03.0=QQ"])
        #expect(usage.status == 64)
        let tree = try Tool.vfioctl(["inspect", "--snapshot", asus, "--assume-acs", "00:03.0", "--tree"])
        #expect(tree.status == 64 && tree.standardError.contains("--tree"))
        let quirk = try Tool.vfioctl(["inspect", "--snapshot", asus, "--assume-quirk", "no-such-quirk"])
        #expect(quirk.status == 1 && quirk.standardError.contains("no-such-quirk"))
    }

    @Test("advise --json on the seed host: config_acs on root port 3 first, the override last")
    func advise() throws {
        let result = try Tool.vfioctl(["advise", "--snapshot", Fixtures.seedSnapshot, "04:00.1", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let document = try json(result)
        let options = try #require(document["options"] as? [[String: Any]])
        #expect(options.first?["kind"] as? String == "config-acs")
        #expect(options.first?["parameter"] as? String == "pci=config_acs=xx111x1@0000:00:03.0")
        #expect(options.last?["kind"] as? String == "acs-override")
        #expect(options.last?["isolates"] as? Bool == false)
        let bridge = try Tool.vfioctl(["advise", "--snapshot", Fixtures.seedSnapshot, "00:03.0"])
        #expect(bridge.status == 1 && bridge.standardError.contains("bridge"))
    }
}
