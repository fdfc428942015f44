import Foundation
import TestSupport
import Testing

/// The remaining cases of the hostile-input review, each from the command line: every one
/// crashed, hung, wrote outside its root or answered wrongly before.
@Suite("Hostile input from the command line")
struct HostileInputCLITests {
    func tree() throws -> (directory: String, tree: String) {
        let directory = try Tool.temporaryDirectory()
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        return (directory, directory + "/host")
    }

    @Test("a FIFO in quirks.d is refused by name at once, not waited on")
    func fifoInQuirks() throws {
        let (directory, tree) = try tree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(
            atPath: tree + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
        #expect(mkfifo(tree + "/etc/vfioctl/quirks.d/local.toml", 0o644) == 0)
        let started = Date()
        let result = try Tool.vfioctl(["inspect", "--root", tree])
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(result.status != 0)
        #expect(result.standardError.contains("quirks.d/local.toml is a FIFO"), "\(result.standardError)")
    }

    @Test("a quirk file or desired-state file over 1 MiB is refused with its name and the limit, not cut")
    func oversizedConfiguration() throws {
        let (directory, tree) = try tree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let padding = String(repeating: "# padding to make the file large\n", count: 40_000)
        try FileManager.default.createDirectory(
            atPath: tree + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
        try (padding + "this is = not toml [").write(
            toFile: tree + "/etc/vfioctl/quirks.d/big.toml", atomically: true, encoding: .utf8)
        let inspect = try Tool.vfioctl(["inspect", "--root", tree])
        #expect(inspect.status != 0)
        #expect(inspect.standardError.contains("big.toml is larger than 1 MiB"), "\(inspect.standardError)")
        try (padding + "[[sriov]]\npf = \"0000:03:00.0\"\nvfs = 2\n").write(
            toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        let apply = try Tool.vfioctl(["apply", directory + "/desired.toml", "--root", tree])
        #expect(apply.status != 0)
        #expect(apply.standardError.contains("desired.toml is larger than 1 MiB"), "\(apply.standardError)")
        #expect(
            try String(contentsOfFile: tree + "/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", encoding: .utf8)
                == "7\n")
    }

    @Test("one unreadable host fact is an anomaly, and the rest of the report is still there")
    func unreadableFact() throws {
        let (directory, tree) = try tree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try? FileManager.default.removeItem(atPath: tree + "/proc/cpuinfo")
        #expect(mkfifo(tree + "/proc/cpuinfo", 0o644) == 0)
        let result = try Tool.vfioctl(["inspect", "--root", tree, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let anomalies = report["anomalies"] as? [String] ?? []
        #expect(anomalies.contains { $0.contains("CPU vendor") && $0.contains("cpuinfo is a FIFO") }, "\(anomalies)")
        #expect((report["devices"] as? [Any])?.count == 64)
    }

    @Test("dma-check --size past Int.max is a usage error, not a trap")
    func dmaCheckSize() throws {
        let result = try Tool.vfioctl(["dma-check", "group:1", "--size", "99999999999G"])
        #expect(result.status == 64, "\(result.status) \(result.standardError)")
        #expect(result.standardError.contains("--size must look like 256M or 1G"))
    }

    @Test("sriov set --json --dry-run prints JSON with the writes")
    func sriovDryRunJSON() throws {
        let (directory, tree) = try tree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["sriov", "set", "0000:03:00.0", "2", "--root", tree, "--dry-run", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["dryRun"] as? Bool == true)
        #expect((object["writes"] as? [String])?.last?.hasSuffix("sriov_numvfs") == true)
    }

    @Test("the hook's snapshot cannot redirect its writes out through links the archive carries")
    func hookSnapshotLinks() throws {
        let (directory, tree) = try tree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A snapshot directory whose hugepage pool is a link to a directory outside it, and
        // whose nr_hugepages in another pool is a link to a file outside it.
        let outside = directory + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "0\n".write(toFile: outside + "/nr_hugepages", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: outside + "/free_hugepages", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(
            atPath: tree + "/sys/kernel/mm/hugepages", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: tree + "/sys/kernel/mm/hugepages/hugepages-2048kB", withDestinationPath: outside)
        try "{\"format\": \"vfioctl-snapshot\", \"version\": 1}\n".write(
            toFile: tree + "/vfioctl-snapshot.json", atomically: true, encoding: .utf8)
        let config = directory + "/hook.toml"
        try "snapshot = \"\(tree)\"\nstate-dir = \"\(directory)/state\"\nhugepages = \"reserve\"\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let xml = """
            <domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>
            <memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>
            <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices/></domain>
            """
        try xml.write(toFile: directory + "/domain.xml", atomically: true, encoding: .utf8)
        _ = try Tool.run(
            "/bin/sh",
            [
                "-c", "\"$0\" hook libvirt --config \"$1\" vm1 prepare begin - < \"$2\"",
                Tool.buildDirectory + "/vfioctl", config, directory + "/domain.xml",
            ])
        // The absolute link resolves inside the snapshot, where there is no such pool: the
        // file outside is untouched whatever the hook decided.
        #expect(try String(contentsOfFile: outside + "/nr_hugepages", encoding: .utf8) == "0\n")
    }
}
