import Foundation
import TestSupport
import Testing

@Suite("vfioctl quirks and inspect's quirk output")
struct QuirkCLITests {
    static let seed = Fixtures.directory + "/snapshots/seed-host.tar.gz"

    @Test("the demo (inspect on the seed host) shows the dual-PF quirk and the IDT reload sequence")
    func demoShowsSeedQuirks() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Self.seed])
        #expect(result.status == 0)
        // Undo the wrapping at 100 columns before looking for phrases.
        let text = result.standardOutput.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(
            separator: " ")
        #expect(text.contains("quirk intel-82576-dual-pf-windows-2008 (block)"))
        #expect(text.contains("quirk intel-82576-idt-pes12n3a-x58-max-vfs-aer-hang (sriov-sequence)"))
        #expect(text.contains("modprobe igb max_vfs=1; rmmod igbvf; rmmod igb; modprobe igb max_vfs=8"))
        #expect(text.contains("pci=noaer"))
    }

    @Test("quirks check: a bad local file fails with file:line; a good one passes")
    func check() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try
            "[[quirk]]\nid = \"x\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"a\"\nreferences = [\"r\"]\n[quirk.match]\nvendor = \"8086\"\n"
            .write(toFile: directory + "/bad.toml", atomically: true, encoding: .utf8)
        let bad = try Tool.vfioctl(["quirks", "check", directory])
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("\(directory)/bad.toml:8:"))
        try FileManager.default.removeItem(atPath: directory + "/bad.toml")
        try
            "[[quirk]]\nid = \"x\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"a\"\nreferences = [\"r\"]\n[quirk.match]\nvendor = 0x8086\n"
            .write(toFile: directory + "/good.toml", atomically: true, encoding: .utf8)
        let good = try Tool.vfioctl(["quirks", "check", directory])
        #expect(good.status == 0, "\(good.standardError)")
        #expect(good.standardOutput.contains("1 quirks, valid"))
    }

    @Test("a local quirk under --root overrides a shipped one in inspect and quirks show")
    func localOverride() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = directory + "/seed"
        try Tool.seedTree(at: tree)
        try FileManager.default.createDirectory(
            atPath: tree + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
        try """
        [[quirk]]
        id = "idt-pes-switch-no-acs"
        title = "Site note: our IDT switch is fine for one guest"
        effect = "advice"
        advice = "Give the whole switch to the network appliance VM."
        references = ["site runbook"]
        [quirk.match]
        vendor = 0x111d
        """.write(toFile: tree + "/etc/vfioctl/quirks.d/site.toml", atomically: true, encoding: .utf8)
        let shown = try Tool.vfioctl(["quirks", "show", "idt-pes-switch-no-acs", "--root", tree])
        #expect(shown.standardOutput.contains("Site note"))
        let inspect = try Tool.vfioctl(["inspect", "--root", tree, "0000:02:00.0"])
        #expect(inspect.standardOutput.contains("quirk idt-pes-switch-no-acs (advice): Site note"))
    }

    @Test("quirks match --json on the seed NIC names the sequence; an unknown id is an error")
    func matchAndShow() throws {
        let match = try Tool.vfioctl(["quirks", "match", "0000:04:00.1", "--snapshot", Self.seed, "--json"])
        #expect(match.status == 0)
        let entries = try #require(
            try JSONSerialization.jsonObject(with: Data(match.standardOutput.utf8)) as? [[String: Any]])
        let idt = try #require(entries.first { $0["id"] as? String == "intel-82576-idt-pes12n3a-x58-max-vfs-aer-hang" })
        #expect(idt["sequence"] as? String == "idt-workaround")
        #expect(
            entries.first { $0["id"] as? String == "intel-82576-dual-pf-windows-2008" }?["dependsOnGuest"] as? Bool
                == true)
        let missing = try Tool.vfioctl(["quirks", "show", "no-such-quirk"])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("no quirk no-such-quirk"))
    }
}
