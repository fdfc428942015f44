import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// A small host in the shape of the X99 thread: two multifunction root ports (00:1c.0 and
/// 00:1c.4, AMD 1022:1483, which no bundled quirk covers: the X99 PCH's own 8086:8d10 has the
/// kernel's Intel PCH quirk on both sides) with a NIC below each (01:00.0, 02:00.0). Written as a
/// tree with the kernel groups the kernel would form, its kernel release, and optionally a
/// local quirk file, so `vfioctl diff` reads it as it reads a host.
struct PCHTree {
    /// ACS control per root port; nil leaves the port without an ACS capability.
    var control: [String: ACSFlags?] = ["00:1c.0": nil, "00:1c.4": nil]
    /// Kernel groups, and the numbers they get (numbers differ between boots).
    var groups: [[String]]
    var numbers: [Int]? = nil
    var release = "6.1.0-57-amd64"
    var quirks: String? = nil
    var nicDeviceID: [String: UInt16] = [:]
    var drivers: [String: String] = ["01:00.0": "e1000e", "02:00.0": "e1000e"]
    var resetMethods: [String: [ResetMethod]] = ["01:00.0": [.flr, .bus], "02:00.0": [.flr, .bus]]
    /// Functions left out, and root-bus endpoints added.
    var omit: Set<String> = []
    var extraRootEndpoints: [String] = []

    static let isolationQuirk = TestQuirks.isolation(
        id: "site-x99-pch-acs", title: "Site note: these root ports isolate (vendor-confirmed)", vendor: 0x1022,
        device: 0x1483, reference: "site runbook")

    func write(at path: String) throws {
        var builders: [(String, ConfigSpaceBuilder)] = []
        for (address, secondary) in [("00:1c.0", UInt8(1)), ("00:1c.4", UInt8(2))] where !omit.contains(address) {
            var port = ConfigSpaceBuilder(
                vendorID: 0x1022, deviceID: 0x1483, classCode: 0x060400, headerType: 1, multifunction: true)
            port.setBuses(primary: 0, secondary: secondary, subordinate: secondary)
            port.addExpress(type: .rootPort, slot: true)
            if let flags = control[address] ?? nil {
                port.addACS(
                    capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding],
                    control: flags)
            }
            builders.append((address, port))
        }
        for address in ["01:00.0", "02:00.0"] + extraRootEndpoints where !omit.contains(address) {
            var nic = ConfigSpaceBuilder(
                vendorID: 0x8086, deviceID: nicDeviceID[address] ?? 0x10d3, classCode: 0x020000)
            nic.addPowerManagement(noSoftReset: true)
            nic.addExpress(type: .endpoint, flr: true)
            builders.append((address, nic))
        }
        var groupOf: [String: Int] = [:]
        for (index, members) in groups.enumerated() {
            for member in members { groupOf[member] = numbers?[index] ?? index }
        }
        var devices: [PCIDevice] = []
        var bytes: [PCIAddress: [UInt8]] = [:]
        for (address, builder) in builders {
            var device = Hosts.device(
                address, builder, driver: drivers[address] ?? (address.hasPrefix("00:1c") ? "pcieport" : nil),
                group: groupOf[address])
            device.resetMethods = resetMethods[address]
            devices.append(device)
            bytes[device.address] = builder.bytes
        }
        HostModel.assignParentsFromBusRanges(&devices)
        var kernelGroups: [Int: [PCIAddress]] = [:]
        for device in devices {
            if let group = device.iommuGroup { kernelGroups[group, default: []].append(device.address) }
        }
        let model = HostModel(
            source: "test", devices: devices, kernelGroups: kernelGroups, facts: HostFacts(), configBytes: bytes)
        try SysfsTreeWriter(base: FilePath(path)).write(model)
        try FileManager.default.createDirectory(atPath: path + "/proc/sys/kernel", withIntermediateDirectories: true)
        try (release + "\n").write(toFile: path + "/proc/sys/kernel/osrelease", atomically: true, encoding: .utf8)
        if let quirks {
            try FileManager.default.createDirectory(
                atPath: path + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
            try quirks.write(toFile: path + "/etc/vfioctl/quirks.d/site.toml", atomically: true, encoding: .utf8)
        }
    }
}

@Suite("vfioctl diff: what changed between two hosts")
struct DiffCLITests {
    static let snapshots = Fixtures.directory + "/snapshots/"
    static let all = [["00:1c.0", "00:1c.4", "01:00.0", "02:00.0"]]
    static let apart = [["00:1c.0"], ["00:1c.4"], ["01:00.0"], ["02:00.0"]]

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// The text with its wrapping at 100 columns undone.
    static func flat(_ text: String) -> String {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    static func groupChanges(_ json: [String: Any]) -> [[String: Any]] {
        json["groupChanges"] as? [[String: Any]] ?? []
    }

    /// Writes A and B under a fresh directory; returns their paths.
    static func trees(_ a: PCHTree, _ b: PCHTree) throws -> (String, String, String) {
        let directory = try Tool.temporaryDirectory()
        try a.write(at: directory + "/a")
        try b.write(at: directory + "/b")
        return (directory, directory + "/a", directory + "/b")
    }

    @Test("the lab host on Linux 6.1 and 6.12: only the kernel differs; groups, drivers, reset methods are the same")
    func labKernels() throws {
        let a = Self.snapshots + "lab-amd-vi-6.1.tar.gz"
        let b = Self.snapshots + "lab-amd-vi-6.12.tar.gz"
        let text = try Tool.vfioctl(["diff", a, b])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("Kernel: 6.1.0-57-amd64 → 6.12.117+deb12-amd64"))
        #expect(text.standardOutput.contains("Groups compared: the kernel's"))
        #expect(text.standardOutput.contains("Groups identical (7 groups)."))
        #expect(!text.standardOutput.contains("Function changes"))
        let result = try Tool.vfioctl(["diff", a, b, "--json"])
        #expect(result.status == 0)
        let json = try Self.json(result.standardOutput)
        #expect(json["schemaVersion"] as? Int == 1)
        #expect(json["kernelChanged"] as? Bool == true)
        #expect(json["groupBasis"] as? String == "kernel")
        #expect(json["groupsDiffer"] as? Bool == false)
        #expect(json["unchangedGroups"] as? Int == 7)
        #expect((json["a"] as? [String: Any])?["kernelRelease"] as? String == "6.1.0-57-amd64")
        #expect((json["b"] as? [String: Any])?["kernelRelease"] as? String == "6.12.117+deb12-amd64")
        for key in ["added", "removed", "replaced", "groupChanges", "functionChanges"] {
            #expect((json[key] as? [Any])?.isEmpty == true, "\(key)")
        }
    }

    @Test("an isolation quirk on B's root ports splits A's one group; reversed, the groups merge, quirk on A")
    func isolationQuirk() throws {
        let (directory, a, b) = try Self.trees(
            PCHTree(groups: Self.all),
            PCHTree(groups: Self.apart, numbers: [7, 3, 5, 1], quirks: PCHTree.isolationQuirk))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["diff", a, b, "--json"])
        #expect(result.status == 1, "\(result.standardError)")
        let changes = Self.groupChanges(try Self.json(result.standardOutput))
        #expect(changes.count == 1)
        let split = try #require(changes.first)
        #expect(split["kind"] as? String == "split")
        #expect(split["before"] as? [[String]] == [["0000:00:1c.0", "0000:00:1c.4", "0000:01:00.0", "0000:02:00.0"]])
        #expect(
            split["after"] as? [[String]] == [["0000:00:1c.0"], ["0000:00:1c.4"], ["0000:01:00.0"], ["0000:02:00.0"]])
        let reasons = split["reasons"] as? [[String: Any]] ?? []
        let quirks = reasons.filter { $0["code"] as? String == "isolation-quirk" }
        #expect(quirks.map { $0["address"] as? String } == ["0000:00:1c.0", "0000:00:1c.4"])
        #expect(quirks.allSatisfy { $0["quirk"] as? String == "site-x99-pch-acs" && $0["side"] as? String == "B" })
        #expect(quirks.allSatisfy { $0["isolated"] as? Bool == true })
        // Nothing else in config space differs; the kernels are the same.
        #expect(reasons.count == 2, "\(reasons)")

        let reversed = try Tool.vfioctl(["diff", b, a])
        #expect(reversed.status == 1)
        #expect(reversed.standardOutput.contains("  merged:"))
        #expect(
            Self.flat(reversed.standardOutput).contains(
                "because: isolation quirk site-x99-pch-acs applies on A only: 0000:00:1c.0 counts as isolated there"))
        #expect(!reversed.standardOutput.contains("split"))
    }

    @Test("one port's ACS control word cleared: its group merges with the NIC below, reason names the word")
    func controlWord() throws {
        let enabled: ACSFlags = [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding]
        let (directory, a, b) = try Self.trees(
            PCHTree(control: ["00:1c.0": enabled, "00:1c.4": enabled], groups: Self.apart),
            PCHTree(
                control: ["00:1c.0": enabled, "00:1c.4": []],
                groups: [["00:1c.0"], ["01:00.0"], ["00:1c.4", "02:00.0"]],
                numbers: [2, 0, 9]))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["diff", a, b, "--json"])
        #expect(result.status == 1, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        let changes = Self.groupChanges(json)
        #expect(changes.count == 1)
        #expect(changes.first?["kind"] as? String == "merged")
        #expect(changes.first?["before"] as? [[String]] == [["0000:00:1c.4"], ["0000:02:00.0"]])
        #expect(changes.first?["after"] as? [[String]] == [["0000:00:1c.4", "0000:02:00.0"]])
        let reasons = changes.first?["reasons"] as? [[String: Any]] ?? []
        #expect(reasons.count == 1)
        #expect(reasons.first?["code"] as? String == "acs-control")
        #expect(reasons.first?["address"] as? String == "0000:00:1c.4")
        #expect(reasons.first?["before"] as? Int == 0x1d)
        #expect(reasons.first?["after"] as? Int == 0)
        let fields = (json["functionChanges"] as? [[String: Any]] ?? []).filter {
            $0["address"] as? String == "0000:00:1c.4"
        }
        #expect(fields.first { $0["field"] as? String == "acsControl" }?["after"] as? String == "0x0000")
        let text = try Tool.vfioctl(["diff", a, b])
        #expect(
            Self.flat(text.standardOutput).contains(
                "because: ACS control word of 0000:00:1c.4: 0x001d (SV RR CR UF) → 0x0000 (none)"))
    }

    @Test("the same config space, other kernel groups: not explained by config space, the kernels are named")
    func kernelOnly() throws {
        let (directory, a, b) = try Self.trees(
            PCHTree(groups: Self.all, release: "6.1.0-57-amd64"),
            PCHTree(groups: [["00:1c.0", "00:1c.4", "01:00.0"], ["02:00.0"]], release: "6.12.117+deb12-amd64"))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["diff", a, b])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("  split:"))
        #expect(
            Self.flat(result.standardOutput).contains(
                "because: not explained by config space: the kernels' rules differ (6.1 vs 6.12)"))
    }

    @Test("functions added, removed and replaced; drivers and reset methods of the others")
    func functions() throws {
        let enabled: ACSFlags = [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding]
        let control: [String: ACSFlags?] = ["00:1c.0": enabled, "00:1c.4": enabled]
        var before = PCHTree(control: control, groups: Self.apart)
        before.drivers["02:00.0"] = "e1000e"
        var after = PCHTree(
            control: control, groups: [["00:1c.0"], ["00:1c.4"], ["01:00.0"], ["00:02.0"]],
            nicDeviceID: ["01:00.0": 0x1533])
        after.omit = ["02:00.0"]
        after.extraRootEndpoints = ["00:02.0"]
        var same = PCHTree(control: control, groups: Self.apart)
        same.drivers["01:00.0"] = "vfio-pci"
        same.resetMethods["01:00.0"] = [.bus]
        let (directory, a, b) = try Self.trees(before, after)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["diff", a, b, "--json"])
        #expect(result.status == 1, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        #expect((json["added"] as? [[String: Any]])?.compactMap { $0["address"] as? String } == ["0000:00:02.0"])
        #expect((json["removed"] as? [[String: Any]])?.compactMap { $0["address"] as? String } == ["0000:02:00.0"])
        let replaced = try #require((json["replaced"] as? [[String: Any]])?.first)
        #expect(replaced["address"] as? String == "0000:01:00.0")
        #expect((replaced["before"] as? [String: Any])?["ids"] as? String == "8086:10d3")
        #expect((replaced["after"] as? [String: Any])?["ids"] as? String == "8086:1533")
        let kinds = Self.groupChanges(json).compactMap { $0["kind"] as? String }.sorted()
        #expect(kinds == ["appeared", "vanished"])

        try same.write(at: directory + "/c")
        let drivers = try Tool.vfioctl(["diff", a, directory + "/c", "--json"])
        #expect(drivers.status == 0, "\(drivers.standardError)")
        let fields = (try Self.json(drivers.standardOutput)["functionChanges"] as? [[String: Any]] ?? []).map {
            [$0["address"] as? String, $0["field"] as? String, $0["before"] as? String, $0["after"] as? String]
        }
        #expect(fields.contains(["0000:01:00.0", "driver", "e1000e", "vfio-pci"]))
        #expect(fields.contains(["0000:01:00.0", "resetMethods", "flr bus", "bus"]))
    }

    @Test("live against live reads only /sys and finds nothing (skipped without PCI devices)")
    func live() throws {
        let devices = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []
        guard !devices.isEmpty else { return }
        let result = try Tool.vfioctl(["diff", "live", "live"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("Groups identical") || result.standardOutput.contains("Groups compared"))
        #expect(!result.standardOutput.contains("Functions added"))
    }

    @Test("hostile operands: missing, FIFO, empty file, a directory of no kind, a text that is no dump: exit 2")
    func hostile() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seed = Self.snapshots + "seed-host.tar.gz"
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(FileManager.default.createFile(atPath: directory + "/empty", contents: Data()))
        try FileManager.default.createDirectory(atPath: directory + "/plain", withIntermediateDirectories: true)
        try "hello\n".write(toFile: directory + "/note.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/fifo-link", withDestinationPath: fifo)
        // gzip's magic and then garbage: taken for a snapshot, refused by the archive reader.
        try Data([0x1f, 0x8b, 0x41, 0x42]).write(to: URL(fileURLWithPath: directory + "/broken.tar.gz"))
        try Data([0x78, 0xff, 0xfe, 0x0a]).write(to: URL(fileURLWithPath: directory + "/latin1.txt"))
        // Sparse: over the dump limit without using the disk.
        #expect(FileManager.default.createFile(atPath: directory + "/huge.txt", contents: nil))
        #expect(truncate(directory + "/huge.txt", 100 << 20) == 0)
        let cases: [([String], String)] = [
            ([directory + "/missing", seed], "A: \(directory)/missing: No such file or directory"),
            ([seed, fifo], "B: \(fifo) is a FIFO"),
            ([directory + "/empty", seed], "is an empty file"),
            ([seed, directory + "/plain"], "is a directory but neither a snapshot"),
            ([seed, directory + "/note.txt"], "holds no device"),
            (["root:" + directory + "/plain", seed], "has no sys/"),
            (["snapshot:" + directory + "/plain", seed], "is not a vfioctl snapshot"),
            (["lspci:", seed], "no path after `lspci:`"),
            ([seed, directory + "/fifo-link"], "fifo-link is a FIFO"),
            ([directory + "/broken.tar.gz", seed], "A (\(directory)/broken.tar.gz): snapshot"),
            ([seed, directory + "/latin1.txt"], "holds no device"),
            ([directory + "/huge.txt", seed], "is larger than"),
        ]
        for (arguments, message) in cases {
            let result = try Tool.vfioctl(["diff"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.standardError)")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
            #expect(result.standardOutput.isEmpty)
        }
        let same = try Tool.vfioctl(["diff", seed, seed])
        #expect(same.status == 0, "\(same.standardError)")
        #expect(same.standardOutput.contains("Groups identical"))
    }

    @Test("lspci dumps have no kernel groups: predicted groups are compared, and said so")
    func lspciPredicted() throws {
        let dump = Fixtures.dump("cap-dpc")
        let result = try Tool.vfioctl(["diff", "lspci:" + dump, dump, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        #expect(json["groupBasis"] as? String == "predicted")
        #expect(json["groupsDiffer"] as? Bool == false)
    }
}
