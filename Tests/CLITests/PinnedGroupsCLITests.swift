import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// `[[expect-group]]`: `apply --pin` writes it, `apply --check` compares it, `apply` and the
/// libvirt hook refuse when it no longer holds; on trees written with SysfsTreeWriter.
@Suite("Pinned IOMMU groups")
struct PinnedGroupsCLITests {
    /// How the test host's kernel groups look in one scenario.
    enum Variant: CaseIterable {
        /// 00:02.0 + 00:02.1 (group 1), 00:03.0 (group 2), 00:04.0 (group 3).
        case base
        /// 00:04.0 joined group 1 (a BIOS update merged them).
        case added
        /// 00:02.1 left group 1 for a group of its own.
        case left
        /// 00:02.1 is another device (8086:10d4): a card in another slot.
        case idsChanged
        /// 00:02.1 is gone.
        case gone
    }

    /// Four root-bus NICs (8086:10d3, FLR) in the groups `variant` gives.
    static func model(_ variant: Variant) -> HostModel {
        func nic(deviceID: UInt16 = 0x10d3, multifunction: Bool = false) -> ConfigSpaceBuilder {
            var builder = ConfigSpaceBuilder(
                vendorID: 0x8086, deviceID: deviceID, classCode: 0x020000, multifunction: multifunction)
            builder.addPowerManagement(noSoftReset: true)
            builder.addExpress(type: .rootComplexIntegratedEndpoint, flr: true)
            return builder
        }
        var groups: [String: Int] = ["00:02.0": 1, "00:02.1": 1, "00:03.0": 2, "00:04.0": 3]
        var builders: [String: ConfigSpaceBuilder] = [
            "00:02.0": nic(multifunction: true), "00:02.1": nic(multifunction: true), "00:03.0": nic(),
            "00:04.0": nic(),
        ]
        switch variant {
        case .base: break
        case .added: groups["00:04.0"] = 1
        case .left: groups["00:02.1"] = 4
        case .idsChanged: builders["00:02.1"] = nic(deviceID: 0x10d4, multifunction: true)
        case .gone:
            groups["00:02.1"] = nil
            builders["00:02.1"] = nil
        }
        let devices = builders.keys.sorted().map { address in
            Hosts.device(address, builders[address]!, driver: "e1000e", group: groups[address])
        }
        var kernelGroups: [Int: [PCIAddress]] = [:]
        for device in devices { kernelGroups[device.iommuGroup!, default: []].append(device.address) }
        var model = Hosts.model(devices, kernelGroups: kernelGroups)
        for (address, builder) in builders { model.configBytes[PCIAddress(address)!] = builder.bytes }
        return model
    }

    /// A directory with `host/` written as `variant` and the desired-state file `desired.toml`.
    static func makeHost(_ variant: Variant = .base, desired: String = Self.desired) throws -> String {
        let directory = try Tool.temporaryDirectory()
        try writeTree(variant, at: directory + "/host")
        try desired.write(toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        return directory
    }

    static func writeTree(_ variant: Variant, at path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try SysfsTreeWriter(base: FilePath(path)).write(model(variant))
    }

    static let desired = """
        # the NIC pair and the single NIC, for guests
        [[bind]]
        device = "0000:00:02.0"

        [[bind]]
        device = "0000:00:03.0"

        """

    static let pinnedPair = """
        [[expect-group]]
        members = ["0000:00:02.0", "0000:00:02.1"]
        ids = ["8086:10d3", "8086:10d3"]
        """

    func apply(_ directory: String, _ arguments: [String]) throws -> Tool.Result {
        try Tool.vfioctl(
            ["apply"] + arguments + [
                directory + "/desired.toml", "--root", directory + "/host", "--state-dir", directory + "/state",
            ])
    }

    func file(_ directory: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: directory + "/desired.toml"))
    }

    @Test("--pin appends the groups the entries use with members and ids; --check then holds")
    func pinThenCheck() throws {
        let directory = try Self.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try file(directory)
        let pin = try apply(directory, ["--pin"])
        #expect(pin.status == 0, "\(pin.standardError)")
        let after = try file(directory)
        // The old bytes stay as they were; only blocks are appended.
        #expect(after.prefix(before.count) == before)
        let added = String(decoding: after.dropFirst(before.count), as: UTF8.self)
        #expect(added.contains("members = [\"0000:00:02.0\", \"0000:00:02.1\"]\nids = [\"8086:10d3\", \"8086:10d3\"]"))
        #expect(added.contains("members = [\"0000:00:03.0\"]\nids = [\"8086:10d3\"]"))
        #expect(!added.contains("0000:00:04.0"), "group 3 is used by no entry")
        #expect(added.components(separatedBy: "[[expect-group]]").count == 3)
        #expect(added.contains("# written by vfioctl apply --pin on "))
        let check = try apply(directory, ["--check"])
        #expect(check.status == 0, "\(check.standardOutput)\(check.standardError)")
        #expect(check.standardOutput.contains("2 expected group(s) hold"))
    }

    @Test(
        "--check names exactly the change: a function added, one gone to another group, other ids, one gone",
        arguments: [
            (Variant.added, "group of 0000:00:02.0 now also holds 0000:00:04.0 (added)", "added"),
            (Variant.left, "0000:00:02.1 is now in another group", "left-group"),
            (Variant.idsChanged, "0000:00:02.1 is 8086:10d4, expected 8086:10d3", "ids-changed"),
            (Variant.gone, "no function 0000:00:02.1", "missing"),
        ])
    func checkNamesChange(variant: Variant, message: String, kind: String) throws {
        let directory = try Self.makeHost(desired: Self.desired + Self.pinnedPair)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try apply(directory, ["--check"]).status == 0)
        try Self.writeTree(variant, at: directory + "/host")
        let check = try apply(directory, ["--check"])
        #expect(check.status == 1)
        let lines = check.standardOutput.split(separator: "\n")
        #expect(lines.count == 1, "\(check.standardOutput)")
        #expect(lines.first?.hasPrefix(message) == true, "\(check.standardOutput)")
        #expect(check.standardOutput.contains("desired.toml:7"), "names the [[expect-group]] line")
        let json = try apply(directory, ["--check", "--json"])
        #expect(json.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect(object?["holds"] as? Bool == false)
        let mismatches = object?["mismatches"] as? [[String: Any]]
        #expect(mismatches?.count == 1)
        #expect(mismatches?.first?["kind"] as? String == kind)
        #expect((mismatches?.first?["message"] as? String)?.hasPrefix(message) == true)
    }

    @Test("apply refuses before its first write when a group changed: the host tree is byte-identical")
    func applyRefuses() throws {
        let directory = try Self.makeHost(.added, desired: Self.desired + Self.pinnedPair)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try EarlyBindCLITests.contents(of: directory + "/host")
        let result = try apply(directory, [])
        #expect(result.status != 0)
        #expect(result.standardError.contains("group of 0000:00:02.0 now also holds 0000:00:04.0 (added)"))
        #expect(result.standardError.contains("nothing was changed"))
        let after = try EarlyBindCLITests.contents(of: directory + "/host")
        #expect(EarlyBindCLITests.changed(before, after) == [])
        // The same file on the unchanged host binds (the refusal was the expectation's doing).
        try Self.writeTree(.base, at: directory + "/host")
        let dry = try apply(directory, ["--dry-run"])
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.standardOutput.contains("would move 0000:00:02.0 e1000e → vfio-pci"), "\(dry.standardOutput)")
    }

    @Test("--pin --dry-run prints the blocks and writes nothing; --pin twice appends nothing the second time")
    func dryRunAndTwice() throws {
        let directory = try Self.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try file(directory)
        let dry = try apply(directory, ["--pin", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.standardOutput.contains("would append"))
        #expect(dry.standardOutput.contains("[[expect-group]]"))
        #expect(try file(directory) == original)
        #expect(try apply(directory, ["--pin"]).status == 0)
        let once = try file(directory)
        #expect(once != original)
        let second = try apply(directory, ["--pin"])
        #expect(second.status == 0)
        #expect(second.standardOutput.contains("nothing to append"))
        #expect(try file(directory) == once)
        // No temporary file is left next to it.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!names.contains { $0.contains("vfioctl-pin") })
    }

    @Test("--pin refuses when an existing pin disagrees with the host, and writes nothing")
    func pinConflict() throws {
        let directory = try Self.makeHost(.added, desired: Self.desired + Self.pinnedPair)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try file(directory)
        let result = try apply(directory, ["--pin"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("desired.toml:7 disagrees with the host"), "\(result.standardError)")
        #expect(result.standardError.contains("0000:00:04.0 (added)"))
        #expect(try file(directory) == original)
    }

    @Test("--pin keeps a file without a final newline intact and adds one before its blocks")
    func noFinalNewline() throws {
        let text = "[[bind]]\ndevice = \"0000:00:03.0\""
        let directory = try Self.makeHost(desired: text)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try apply(directory, ["--pin"]).status == 0)
        let after = String(decoding: try file(directory), as: UTF8.self)
        #expect(after.hasPrefix(text + "\n\n# written by vfioctl"))
        #expect(try apply(directory, ["--check"]).status == 0)
    }

    // MARK: - Hostile files

    @Test("a FIFO, a symbolic link, an empty file, invalid UTF-8 and huge member lists give clear errors")
    func hostileFiles() throws {
        let directory = try Self.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/desired.toml"
        func run(_ arguments: [String]) throws -> Tool.Result {
            try Tool.vfioctl(["apply"] + arguments + [path, "--root", directory + "/host"])
        }
        // FIFO: no writer, so a blocking open would hang.
        try FileManager.default.removeItem(atPath: path)
        #expect(mkfifo(path, 0o600) == 0)
        for arguments in [["--pin"], ["--check"], []] {
            let fifo = try run(arguments)
            #expect(fifo.status != 0)
            #expect(fifo.standardError.contains("not a regular file"), "\(arguments): \(fifo.standardError)")
        }
        // A symbolic link: --pin would replace the link by a file.
        try FileManager.default.removeItem(atPath: path)
        try Self.desired.write(toFile: directory + "/real.toml", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/etc/passwd")
        let link = try run(["--pin"])
        #expect(link.status != 0)
        #expect(link.standardError.contains("is a symbolic link"), "\(link.standardError)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path) == "/etc/passwd")
        // Empty: nothing to check, nothing to pin.
        try FileManager.default.removeItem(atPath: path)
        try Data().write(to: URL(fileURLWithPath: path))
        let emptyCheck = try run(["--check"])
        #expect(emptyCheck.status != 0)
        #expect(emptyCheck.standardError.contains("has no [[expect-group]]"))
        let emptyPin = try run(["--pin"])
        #expect(emptyPin.status == 0)
        #expect(emptyPin.standardOutput.contains("nothing to append"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        // Invalid UTF-8 on line 3.
        try Data(Array("[[bind]]\ndevice = \"0000:00:03.0\"\n# caf".utf8) + [0xC3, 0x28, 0x0A]).write(
            to: URL(fileURLWithPath: path))
        for arguments in [["--pin"], ["--check"], []] {
            let bad = try run(arguments)
            #expect(bad.status != 0)
            #expect(bad.standardError.contains("desired.toml:3: not UTF-8"), "\(arguments): \(bad.standardError)")
        }
        // 100k members: over the file size limit.
        let many = (0..<100_000).map { "\"0000:\(String($0 / 256 % 256, radix: 16)):00.\($0 % 8)\"" }
        try ("[[expect-group]]\nmembers = [" + many.joined(separator: ", ") + "]\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let huge = try run(["--check"])
        #expect(huge.status != 0)
        #expect(huge.standardError.contains("desired.toml"), "\(huge.standardError)")
        // 5,000 distinct members fit in the file but not in a group.
        let distinct = (0..<5000).map {
            "\"0000:\(String($0 / 32 % 256, radix: 16)):\(String($0 / 8 % 32, radix: 16)).\($0 % 8)\""
        }
        try ("[[expect-group]]\nmembers = [" + distinct.joined(separator: ", ") + "]\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let tooMany = try run(["--check"])
        #expect(tooMany.status != 0)
        #expect(
            tooMany.standardError.contains("desired.toml:2: expect-group lists 5000 members"),
            "\(tooMany.standardError)")
    }

    @Test(
        "malformed [[expect-group]] entries are refused with their line",
        arguments: [
            ("[[expect-group]]\nmembers = []\n", "desired.toml:2: expect-group needs members"),
            ("[[expect-group]]\nmembers = [\"04:00.0\", \"0000:04:00.0\"]\n", "is listed twice"),
            ("[[expect-group]]\nmembers = [\"zz\"]\n", "member zz is not DDDD:BB:DD.F"),
            (
                "[[expect-group]]\nmembers = [\"04:00.0\"]\nids = [\"8086:10c9\", \"8086:10c9\"]\n",
                "desired.toml:3: ids has 2 entries for 1 members"
            ),
            ("[[expect-group]]\nmembers = [\"04:00.0\"]\nids = [\"8086-10c9\"]\n", "id 8086-10c9 is not vendor:device"),
            ("[[expect-group]]\nmembers = [\"04:00.0\"]\nnumber = 3\n", "desired.toml:3: unknown key \"number\""),
            ("[[expect-group]]\nmembers = [\"04:00.0\"]\ngroup = -1\n", "desired.toml:3:"),
        ])
    func malformed(text: String, message: String) throws {
        let directory = try Self.makeHost(desired: text)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try apply(directory, ["--check"])
        #expect(result.status != 0)
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    @Test("--check on an lspci dump's tree without kernel groups says they cannot be checked")
    func noKernelGroups() throws {
        let directory = try Self.makeHost(desired: Self.pinnedPair)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.removeItem(atPath: directory + "/host/sys/kernel/iommu_groups")
        let result = try apply(directory, ["--check"])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("expected groups cannot be checked"), "\(result.standardOutput)")
    }

    // MARK: - The libvirt hook

    static func guest(_ function: String) -> String {
        """
        <domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>
        <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>
        <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x0\(function.prefix(1))' function='0x\(function.suffix(1))'/></source></hostdev>
        </devices></domain>
        """
    }

    func hook(_ directory: String, guest: String, desiredState: String? = nil) throws -> Tool.Result {
        let config = directory + "/hook.toml"
        try
            "root = \"\(directory)/host\"\nstate-dir = \"\(directory)/state\"\ndesired-state = \"\(desiredState ?? directory + "/desired.toml")\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        try guest.write(toFile: directory + "/domain.xml", atomically: true, encoding: .utf8)
        return try Tool.run(
            "/bin/sh",
            [
                "-c", "\"$0\" hook libvirt --config \"$1\" vm1 prepare begin - < \"$2\"",
                Tool.buildDirectory + "/vfioctl", config, directory + "/domain.xml",
            ])
    }

    static let pinnedSingle = """

        [[expect-group]]
        members = ["0000:00:03.0"]
        ids = ["8086:10d3"]
        """

    @Test("the hook refuses a guest whose hostdev's group changed, naming the change, and changes nothing")
    func hookRefuses() throws {
        let directory = try Self.makeHost(.added, desired: Self.desired + Self.pinnedPair + Self.pinnedSingle)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try EarlyBindCLITests.contents(of: directory + "/host")
        let result = try hook(directory, guest: Self.guest("2.0"))
        #expect(result.status != 0)
        #expect(result.standardError.contains("refuses to start vm1"))
        #expect(
            result.standardError.contains("group of 0000:00:02.0 now also holds 0000:00:04.0 (added)"),
            "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
        #expect(EarlyBindCLITests.changed(before, try EarlyBindCLITests.contents(of: directory + "/host")) == [])
        // 00:04.0 is now in group 1 too: a guest given 00:04.0 is refused as well.
        let moved = try hook(directory, guest: Self.guest("4.0"))
        #expect(moved.status != 0)
        #expect(moved.standardError.contains("(added)"), "\(moved.standardError)")
    }

    @Test("the hook accepts a guest whose group did not change, though another pinned group did")
    func hookAccepts() throws {
        let directory = try Self.makeHost(.left, desired: Self.desired + Self.pinnedPair + Self.pinnedSingle)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try hook(directory, guest: Self.guest("3.0"))
        #expect(result.status == 0, "\(result.standardError)")
        #expect(FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
        // The same guest with the pinned pair's function is refused on this host.
        try FileManager.default.removeItem(atPath: directory + "/state/domains/vm1")
        let refused = try hook(directory, guest: Self.guest("2.1"))
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("0000:00:02.1 is now in another group"), "\(refused.standardError)")
    }

    @Test("a missing or broken desired-state file refuses the start with a message, not a crash")
    func hookBrokenFile() throws {
        let directory = try Self.makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = try hook(directory, guest: Self.guest("3.0"), desiredState: directory + "/nope.toml")
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("desired-state \(directory)/nope.toml (hook.toml) cannot be read"))
        #expect(missing.standardError.contains("no desired-state file"))
        try "[[expect-group]]\nmembers = 3\n".write(toFile: directory + "/bad.toml", atomically: true, encoding: .utf8)
        let broken = try hook(directory, guest: Self.guest("3.0"), desiredState: directory + "/bad.toml")
        #expect(broken.status == 1)
        #expect(broken.standardError.contains("bad.toml:2"), "\(broken.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/domains/vm1"))
    }
}
