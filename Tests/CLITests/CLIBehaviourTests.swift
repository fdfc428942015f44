import Foundation
import TestSupport
import Testing

@Suite("vfioctl as a user runs it")
struct CLIBehaviourTests {
    static let seed = Fixtures.directory + "/snapshots/seed-host.tar.gz"

    @Test("inspect --json on the seed snapshot carries the documented fields")
    func jsonSchema() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Self.seed, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(json["schemaVersion"] as? Int == 2)
        let devices = try #require(json["devices"] as? [[String: Any]])
        #expect(devices.count == 9)
        let port = try #require(devices.first { $0["address"] as? String == "0000:00:03.0" })
        #expect(port["vendorId"] as? String == "8086")
        #expect(port["deviceId"] as? String == "340a")
        #expect(port["pcieType"] as? String == "root-port")
        #expect((port["acs"] as? [String: String]) == ["capability": "001f", "control": "0000"])
        #expect(port["driver"] as? String == "pcieport")
        let nic = try #require(devices.first { $0["address"] as? String == "0000:05:00.1" })
        #expect(nic["revision"] as? String == "01")
        #expect(nic["classCode"] as? String == "020000")
        #expect(nic["verdict"] as? String == "caveats")
        #expect(nic["iommuGroup"] is NSNull)
        let reasons = try #require(nic["reasons"] as? [[String: Any]])
        #expect(
            reasons.contains { $0["code"] as? String == "group-shared" && ($0["message"] as? String)?.isEmpty == false }
        )
        #expect(json["groups"] is NSNull)
        let predicted = try #require(json["predictedGroups"] as? [[String: Any]])
        #expect(predicted.contains { ($0["devices"] as? [String])?.count == 8 })
    }

    @Test("an unknown address is an error naming it, with a non-zero status")
    func unknownAddress() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Self.seed, "0000:09:00.0"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("no PCI function 0000:09:00.0"))
        #expect(result.standardOutput.isEmpty)
    }

    @Test("a malformed address is refused by the argument parser")
    func malformedAddress() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Self.seed, "0000:09:00.9"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("0000:09:00.9"))
    }

    @Test(
        "options that take a few words refuse others and list them, in the error and in --help",
        arguments: [
            (["sriov", "set", "0000:03:00.0", "1", "--autoprobe", "maybe"], "'on' and 'off'", ["sriov", "set"]),
            (["hugepages", "reserve", "--size", "3M", "--count", "1"], "'2M' and '1G'", ["hugepages", "reserve"]),
            (
                ["hugepages", "reserve", "--size", "2M", "--count", "1", "--node", "x"], "'auto'",
                ["hugepages", "reserve"]
            ),
            (["dma-check", "group:1", "--backing", "8k"], "'4k', '2M' or '1G'", ["dma-check"]),
            (
                ["sriov", "igb-reload", "--max-vfs", "1", "--sequence", "fast"], "'plain', 'idt-workaround' or 'auto'",
                ["sriov", "igb-reload"]
            ),
        ])
    func enumeratedOptions(arguments: [String], listed: String, command: [String]) throws {
        let refused = try Tool.vfioctl(arguments)
        #expect(refused.status != 0)
        #expect(refused.standardError.contains(listed), "\(refused.standardError)")
        let help = try Tool.vfioctl(command + ["--help"])
        // The refused option is the one before the bad word; its help line lists the values.
        let option = arguments[arguments.count - 2]
        let line = help.standardOutput.split(separator: "\n").first { $0.contains(option + " ") }
        #expect(line != nil, "\(help.standardOutput)")
        #expect(help.standardOutput.contains("values:"), "\(help.standardOutput)")
    }

    @Test("a missing root is an error naming the path")
    func missingRoot() throws {
        let result = try Tool.vfioctl(["inspect", "--root", "/nonexistent/host"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("/nonexistent/host"))
    }

    @Test("a truncated snapshot is refused as truncated")
    func truncatedSnapshot() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.seed))
        let truncated = directory + "/truncated.tar.gz"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        let result = try Tool.vfioctl(["inspect", "--snapshot", truncated])
        #expect(result.status != 0)
        #expect(result.standardError.contains("truncated"))
        #expect(result.standardError.contains(truncated))
    }

    @Test("a garbage lspci dump is an error, a malformed hex line names libpci's complaint")
    func garbageDump() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prose = directory + "/prose.txt"
        try "my GPU does not work, help\n".write(toFile: prose, atomically: true, encoding: .utf8)
        let empty = try Tool.vfioctl(["inspect", "--lspci-dump", prose])
        #expect(empty.status != 0)
        #expect(empty.standardError.contains("holds no device"))
        let malformed = directory + "/malformed.txt"
        try "00:00.0 Host bridge: x\n00: 86 80 zz 12\n".write(toFile: malformed, atomically: true, encoding: .utf8)
        let bad = try Tool.vfioctl(["inspect", "--lspci-dump", malformed])
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("Malformed line"))
        #expect(bad.standardError.contains(malformed))
    }

    @Test("broken-ecaps is inspected with the anomaly reported, not a crash")
    func brokenExtendedCapabilities() throws {
        let result = try Tool.vfioctl(["inspect", "--lspci-dump", Fixtures.dump("broken-ecaps"), "--json"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("\"config-anomaly\""))
        #expect(result.standardOutput.contains("repeat the header"))
    }

    @Test("snapshot create from a --root tree replays to the same analysis")
    func snapshotRoundTrip() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = directory + "/seed"
        try Tool.seedTree(at: tree)
        let snapshot = directory + "/capture.tar.gz"
        let created = try Tool.vfioctl(["snapshot", "create", "--root", tree, "-o", snapshot])
        #expect(created.status == 0, "\(created.standardError)")
        #expect(created.standardOutput.contains("9 PCI functions"))
        let direct = try Tool.vfioctl(["inspect", "--root", tree, "--json"])
        let replayed = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--json"])
        let strip: (String) -> String = {
            $0.split(separator: "\n").filter { !$0.contains("\"source\"") }.joined(separator: "\n")
        }
        #expect(direct.status == 0 && replayed.status == 0)
        #expect(strip(direct.standardOutput) == strip(replayed.standardOutput))
        // The capture holds what lspci needs too: lspci decodes the same port from it.
        let unpacked = directory + "/unpacked"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        #expect(try Tool.run("/bin/tar", ["-xzf", snapshot, "-C", unpacked]).status == 0)
        let lspci = try Tool.run(
            "/usr/bin/lspci",
            ["-vvv", "-A", "linux-sysfs", "-O", "sysfs.path=\(unpacked)/sys/bus/pci", "-s", "00:03.0"])
        #expect(lspci.standardOutput.contains("Root Port 3"))
        #expect(lspci.standardOutput.contains("ACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+"))
    }

    @Test(
        "snapshots are written as format 2; format 1 (every bundled fixture) still reads; a newer one is refused by name"
    )
    func snapshotFormatVersions() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unpacked = directory + "/seed"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        #expect(try Tool.run("/bin/tar", ["-xzf", Self.seed, "-C", unpacked]).status == 0)
        let manifest = unpacked + "/vfioctl-snapshot.json"
        let original = try String(contentsOfFile: manifest, encoding: .utf8)
        #expect(original.contains("\"version\": 1"), "the bundled fixtures are format 1 on purpose")
        #expect(try Tool.vfioctl(["inspect", "--snapshot", unpacked]).status == 0)
        for (version, phrase) in [
            ("3", "upgrade vfioctl"), ("0", "not a format vfioctl ever wrote"), ("1e3", "has no \"version\": N"),
            ("-1", "has no \"version\": N"), ("\"2\"", "has no \"version\": N"),
            ("9223372036854775807", "has no \"version\": N"),
        ] {
            try original.replacingOccurrences(of: "\"version\": 1", with: "\"version\": \(version)")
                .write(toFile: manifest, atomically: true, encoding: .utf8)
            let refused = try Tool.vfioctl(["inspect", "--snapshot", unpacked])
            #expect(refused.status != 0)
            #expect(refused.standardError.contains(phrase), "\(version): \(refused.standardError)")
        }
        try Tool.seedTree(at: directory + "/tree")
        #expect(
            try Tool.vfioctl([
                "snapshot", "create", "--root", directory + "/tree", "-o", directory + "/new", "--directory",
            ]).status == 0)
        #expect(
            try String(contentsOfFile: directory + "/new/vfioctl-snapshot.json", encoding: .utf8).contains(
                "\"version\": 2"))
    }

    @Test("the bundled seed snapshot equals what the generator writes today")
    func seedFixtureIsCurrent() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/seed")
        let fresh = try Tool.vfioctl(["inspect", "--root", directory + "/seed", "--json"])
        let bundled = try Tool.vfioctl(["inspect", "--snapshot", Self.seed, "--json"])
        let strip: (String) -> String = {
            $0.split(separator: "\n").filter { !$0.contains("\"source\"") }.joined(separator: "\n")
        }
        #expect(strip(fresh.standardOutput) == strip(bundled.standardOutput))
    }

    @Test("--tree shows the IDT switch under root port 3 with its ACS state")
    func tree() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Self.seed, "--tree"])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n")
        let port = try #require(lines.firstIndex { $0.contains("0000:00:03.0") })
        let upstream = try #require(lines.firstIndex { $0.contains("0000:02:00.0 [111d:8018] upstream-port") })
        #expect(upstream == port + 1)
        #expect(lines[port].contains("ACS control lacks SV RR CR UF"))
        #expect(lines.contains { $0.contains("0000:03:02.0 [111d:8018] downstream-port; no ACS capability") })
    }
}
