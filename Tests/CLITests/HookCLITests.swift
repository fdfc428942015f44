import Foundation
import TestSupport
import Testing

@Suite("vfioctl hook libvirt: prepare and release on a tree")
struct HookCLITests {
    /// A generated host with hugepage pools, and a hook config that reserves hugepages.
    func makeHost() throws -> (directory: String, config: String) {
        let directory = try Tool.temporaryDirectory()
        let tree = directory + "/host"
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", tree]).status == 0)
        let pool = tree + "/sys/kernel/mm/hugepages/hugepages-2048kB"
        try FileManager.default.createDirectory(atPath: pool, withIntermediateDirectories: true)
        try "0\n".write(toFile: pool + "/nr_hugepages", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: pool + "/free_hugepages", atomically: true, encoding: .utf8)
        let config = directory + "/hook.toml"
        try
            "root = \"\(tree)\"\nstate-dir = \"\(directory)/state\"\nhugepages = \"reserve\"\nlog = \"\(directory)/hook.log\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        return (directory, config)
    }

    func runHook(_ config: String, _ arguments: [String], xml: String, in directory: String) throws -> Tool.Result {
        let input = directory + "/domain.xml"
        try xml.write(toFile: input, atomically: true, encoding: .utf8)
        return try Tool.run(
            "/bin/sh",
            [
                "-c", "\"$0\" hook libvirt --config \"$1\" \(arguments.joined(separator: " ")) < \"$2\"",
                Tool.buildDirectory + "/vfioctl", config, input,
            ])
    }

    static let guest = """
        <domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>
        <memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>
        <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>
        <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev>
        <interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x2'/></source></interface>
        </devices></domain>
        """

    @Test("prepare reserves the missing hugepages and registers the devices; release undoes both")
    func prepareRelease() throws {
        let (directory, config) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pool = directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        let prepare = try runHook(config, ["vm1", "prepare", "begin", "-"], xml: Self.guest, in: directory)
        #expect(prepare.status == 0, "\(prepare.standardError)")
        #expect(try String(contentsOfFile: pool, encoding: .utf8) == "32\n")
        let registration = try String(contentsOfFile: directory + "/state/domains/vm1", encoding: .utf8)
        #expect(registration == "device 0000:03:00.1\ndevice 0000:03:00.2\nhugepages 2048 0 32\n")
        let release = try runHook(config, ["vm1", "release", "end", "-"], xml: Self.guest, in: directory)
        #expect(release.status == 0, "\(release.standardError)")
        #expect(try String(contentsOfFile: pool, encoding: .utf8) == "0\n")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
        #expect(
            try String(contentsOfFile: directory + "/hook.log", encoding: .utf8)
                == "vm1 prepare begin\nvm1 release end\n")
    }

    @Test("garbage domain XML is refused with its line and changes nothing")
    func garbage() throws {
        let (directory, config) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try runHook(
            config, ["vm1", "prepare", "begin", "-"], xml: "<domain>\n<name>vm1</name>\n<devices>", in: directory)
        #expect(result.status != 0)
        #expect(result.standardError.contains("domain XML line 3"))
        #expect(result.standardError.contains("nothing was changed"))
        #expect(
            try String(
                contentsOfFile: directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "0\n")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
    }

    @Test("a refused start gives back the hugepages it reserved")
    func refusalUndoesReservation() throws {
        let (directory, config) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = Self.guest.replacingOccurrences(
            of: "bus='0x03' slot='0x00' function='0x1'", with: "bus='0x7f' slot='0x00' function='0x1'")
        let result = try runHook(config, ["vm1", "prepare", "begin", "-"], xml: missing, in: directory)
        #expect(result.status != 0)
        #expect(result.standardError.contains("0000:7f:00.1: no such PCI function on this host"))
        #expect(
            try String(
                contentsOfFile: directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "0\n")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
    }
}

@Suite("vfioctl apply from the command line")
struct ApplyCLITests {
    @Test("a bad desired-state file names the file, line and key; nothing is changed")
    func badFile() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "[[sriov]]\npf = \"0000:03:00.0\"\nvfz = 4\n".write(
            toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        let result = try Tool.vfioctl(["apply", directory + "/desired.toml", "--root", directory])
        #expect(result.status != 0)
        #expect(result.standardError.contains("\(directory)/desired.toml:3: unknown key vfz"))
    }

    @Test("--dry-run on a tree says what it would do and writes nothing")
    func dryRun() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        try "[[sriov]]\npf = \"0000:03:00.0\"\nvfs = 2\n".write(
            toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        let result = try Tool.vfioctl([
            "apply", directory + "/desired.toml", "--root", directory + "/host", "--dry-run",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("sriov 0000:03:00.0: would go 7 → 2 VFs"))
        #expect(
            try String(
                contentsOfFile: directory + "/host/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", encoding: .utf8)
                == "7\n")
    }
}
