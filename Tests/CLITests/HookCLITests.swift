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

@Suite("vfioctl hook libvirt: untrusted names and input")
struct HookInputCLITests {
    let host = HookCLITests()

    func runHook(_ config: String, _ domain: String, input: [UInt8], in directory: String) throws -> Tool.Result {
        let path = directory + "/domain.xml"
        try Data(input).write(to: URL(fileURLWithPath: path))
        return try Tool.run(
            "/bin/sh",
            [
                "-c", "\"$0\" hook libvirt --config \"$1\" \"$3\" prepare begin - < \"$2\"",
                Tool.buildDirectory + "/vfioctl",
                config, path, domain,
            ])
    }

    /// Every file under the state directory and the log, relative to the test directory.
    func written(_ directory: String) -> [String] {
        let paths = (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String]) ?? []
        return paths.filter { $0.hasPrefix("state") || $0 == "hook.log" || $0.hasPrefix("evil") }.sorted()
    }

    @Test(
        "a domain name that is not one safe file name is refused before the log or state is written",
        arguments: ["../evil", ".hidden", "..", String(repeating: "n", count: 243)])
    func badName(name: String) throws {
        let (directory, config) = try host.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let xml = HookCLITests.guest.replacingOccurrences(of: "<name>vm1</name>", with: "<name>\(name)</name>")
        let result = try runHook(config, name, input: Array(xml.utf8), in: directory)
        #expect(result.status == 1, "\(result.standardError)")
        #expect(result.standardError.contains("cannot name a file in the hook's state directory"))
        #expect(result.standardError.contains("nothing was changed"))
        #expect(written(directory) == [])
        #expect(
            try String(
                contentsOfFile: directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "0\n")
    }

    @Test("the longest name accepted fits the state directory's temporary file, and release finds it")
    func longestName() throws {
        let (directory, config) = try host.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = String(repeating: "n", count: 242)
        let xml = HookCLITests.guest.replacingOccurrences(of: "<name>vm1</name>", with: "<name>\(name)</name>")
        let result = try runHook(config, name, input: Array(xml.utf8), in: directory)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(FileManager.default.fileExists(atPath: directory + "/state/domains/" + name))
        let release = try host.runHook(config, [name, "release", "end", "-"], xml: xml, in: directory)
        #expect(release.status == 0, "\(release.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/" + name))
    }

    @Test("a function registered to a running guest is refused to a second guest, naming the first")
    func secondGuest() throws {
        let (directory, config) = try host.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try runHook(config, "vm1", input: Array(HookCLITests.guest.utf8), in: directory)
        #expect(first.status == 0, "\(first.standardError)")
        let xml = HookCLITests.guest.replacingOccurrences(of: "<name>vm1</name>", with: "<name>vm2</name>")
        let second = try runHook(config, "vm2", input: Array(xml.utf8), in: directory)
        #expect(second.status == 1)
        #expect(
            second.standardError.contains(
                "0000:03:00.1, 0000:03:00.2: registered to running guest vm1; a PCI function goes to one guest at a time"
            ))
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm2"))
        // vm1's reservation stays; vm2's attempt gave back what it took.
        #expect(
            try String(
                contentsOfFile: directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "32\n")
    }

    @Test(
        "hostile XML on stdin is refused with a clear line, never a crash",
        arguments: [
            (
                Array("<domain><name>vm1</name>\n<title>caf".utf8) + [0xe9] + Array("</title></domain>".utf8),
                "domain XML line 2: not well-formed XML: invalid UTF-8 at byte 35 (E9)"
            ),
            (
                Array(("<domain><name>vm1</name>\n" + String(repeating: "<a>", count: 50_000)).utf8),
                "domain XML line 2: not well-formed XML: <a> is nested 257 elements deep; domain XML is limited to 256"
            ),
            (
                Array(("<domain><name>vm1</name><!--" + String(repeating: "x", count: 5 << 20) + "--></domain>").utf8),
                "domain XML line 1: not well-formed XML: the document is 4194305 bytes, more than the 4194304 (4 MiB) accepted"
            ),
            (
                Array(
                    HookCLITests.guest.replacingOccurrences(of: "unit='MiB'>64", with: "unit='G'>9223372036854775807")
                        .utf8),
                "domain XML line 1: <memory unit='G'>: 9223372036854775807 G is too large (more than 8 EiB)"
            ),
            (
                Array(HookCLITests.guest.replacingOccurrences(of: "size='2' unit='M'", with: "size='0'").utf8),
                "domain XML line 2: <page size='0'>: a hugepage size must be more than zero"
            ),
        ] as [([UInt8], String)])
    func hostileInput(input: [UInt8], message: String) throws {
        let (directory, config) = try host.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try runHook(config, "vm1", input: input, in: directory)
        #expect(result.status == 1, "\(result.standardError)")
        #expect(
            result.standardError.contains("refuse: " + message + "; nothing was changed"), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
    }

    @Test("reserve mode grows each page size by what its NUMA cells need")
    func numaReserve() throws {
        let (directory, config) = try host.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gigantic = directory + "/host/sys/kernel/mm/hugepages/hugepages-1048576kB"
        try FileManager.default.createDirectory(atPath: gigantic, withIntermediateDirectories: true)
        try "0\n".write(toFile: gigantic + "/nr_hugepages", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: gigantic + "/free_hugepages", atomically: true, encoding: .utf8)
        let xml = HookCLITests.guest
            .replacingOccurrences(of: "<memory unit='MiB'>64</memory>", with: "<memory unit='MiB'>1088</memory>")
            .replacingOccurrences(
                of: "<page size='2' unit='M'/>",
                with: "<page size='1' unit='G' nodeset='0'/><page size='2' unit='M' nodeset='1'/>"
            )
            .replacingOccurrences(
                of: "<os>",
                with:
                    "<cpu><numa><cell id='0' cpus='0' memory='1' unit='GiB'/><cell id='1' cpus='1' memory='64' unit='MiB'/></numa></cpu><os>"
            )
        let prepare = try runHook(config, "vm1", input: Array(xml.utf8), in: directory)
        #expect(prepare.status == 0, "\(prepare.standardError)")
        #expect(try String(contentsOfFile: gigantic + "/nr_hugepages", encoding: .utf8) == "1\n")
        let small = directory + "/host/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        #expect(try String(contentsOfFile: small, encoding: .utf8) == "32\n")
        #expect(
            try String(contentsOfFile: directory + "/state/domains/vm1", encoding: .utf8)
                == "device 0000:03:00.1\ndevice 0000:03:00.2\nhugepages 2048 0 32\nhugepages 1048576 0 1\n")
        let release = try host.runHook(config, ["vm1", "release", "end", "-"], xml: xml, in: directory)
        #expect(release.status == 0, "\(release.standardError)")
        #expect(try String(contentsOfFile: gigantic + "/nr_hugepages", encoding: .utf8) == "0\n")
        #expect(try String(contentsOfFile: small, encoding: .utf8) == "0\n")
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
        #expect(result.standardError.contains("\(directory)/desired.toml:3: unknown key \"vfz\" in [[sriov]]"))
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
