import Foundation
import PCIModel
import TestSupport
import Testing

/// Reset methods in `inspect`, and `vfioctl reset-method` on a tree whose kernel is
/// TestSupport's model (through `vfioctl-faultrun`, the real command line).
@Suite("Reset methods: inspect and vfioctl reset-method")
struct ResetMethodCLITests {
    let sibling = "0000:01:00.1"

    func makeTree() throws -> (directory: String, tree: String) {
        let directory = try Tool.temporaryDirectory()
        try BusResetHost.writeTree(at: directory + "/host")
        return (directory, directory + "/host")
    }

    func resetMethodFile(_ tree: String, _ address: String) -> String {
        tree + "/sys/bus/pci/devices/\(address)/reset_method"
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// The real command line with the kernel model for `tree`.
    func run(_ arguments: [String], tree: String, stopAfter: Int? = nil) throws -> Tool.Result {
        var environment = ["VFIOCTL_FAULT_TREE": tree]
        if let stopAfter { environment["VFIOCTL_TEST_STOP_AFTER_WRITES"] = String(stopAfter) }
        return try Tool.run(
            Tool.buildDirectory + "/vfioctl-faultrun", arguments + ["--root", tree], environment: environment)
    }

    /// Every file's bytes and every link's target below `tree`.
    func contents(of tree: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        for case let child as String in fm.enumerator(atPath: tree)! {
            if child.hasPrefix("run/vfioctl/journals") || child == "run/vfioctl/lock" { continue }
            let path = tree + "/" + child
            let type = try fm.attributesOfItem(atPath: path)[.type] as? FileAttributeType
            switch type {
            case .typeSymbolicLink?: result[child] = "-> " + (try fm.destinationOfSymbolicLink(atPath: path))
            case .typeRegular?: result[child] = try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
            default: result[child] = "\(String(describing: type))"
            }
        }
        return result
    }

    func device(_ json: [String: Any], _ address: String) -> [String: Any]? {
        (json["devices"] as? [[String: Any]])?.first { $0["address"] as? String == address }
    }

    @Test("inspect: methods and source with and without reset_method; a bus-only function names its bus-mate")
    func inspect() throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["inspect", "--json", "--root", tree])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let busOnly = try #require(device(json, "0000:01:00.0")?["reset"] as? [String: Any])
        #expect(busOnly["methods"] as? [String] == ["bus"])
        #expect(busOnly["source"] as? String == "reset_method")
        #expect(busOnly["busResetAlsoResets"] as? [String] == [sibling])
        #expect(busOnly["busResetBridge"] as? String == "0000:00:1c.0")
        #expect(busOnly["busListingStale"] as? Bool == true)
        let mate = try #require(device(json, sibling)?["reset"] as? [String: Any])
        #expect(mate["methods"] as? [String] == ["flr", "pm"])
        #expect(mate["busResetAlsoResets"] as? [String] == [])
        #expect(mate["busListingStale"] as? Bool == false)
        // No reset_method (a kernel before 5.15): from config space.
        let old = try #require(device(json, "0000:00:02.0")?["reset"] as? [String: Any])
        #expect(old["methods"] as? [String] == ["flr"] && old["source"] as? String == "config-space")

        let text = try Tool.vfioctl(["inspect", "--root", tree, "0000:01:00.0", "0000:00:02.0"]).standardOutput
        #expect(text.contains("reset: bus (reset_method); a bus reset of 0000:00:1c.0 also resets 0000:01:00.1"))
        #expect(text.contains("reset: flr (config-space)"))
    }

    @Test("reset-method writes the kernel's syntax, reports before and after; the model keeps it")
    func writes() throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try run(["reset-method", sibling, "pm", "flr", "--json"], tree: tree)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(read(resetMethodFile(tree, sibling)) == "pm flr\n")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(json["before"] as? [String] == ["flr", "pm"] && json["after"] as? [String] == ["pm", "flr"])
        #expect(json["dryRun"] as? Bool == false && json["requested"] as? String == "pm flr")
        #expect((json["writes"] as? [String])?.count == 1)
        // No journal is left after a completed action.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree + "/run/vfioctl/journals").isEmpty)
        let text = try run(["reset-method", sibling, "flr"], tree: tree)
        #expect(text.standardOutput == "\(sibling): reset_method pm flr → flr\n")
    }

    @Test("--dry-run prints the one write and leaves the tree byte-identical")
    func dryRun() throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try contents(of: tree)
        let result = try run(["reset-method", sibling, "pm", "--dry-run"], tree: tree)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasSuffix("/bus/pci/devices/\(sibling)/reset_method\n"))
        #expect(result.standardOutput.hasPrefix("echo pm > "))
        #expect(try contents(of: tree) == before)
        #expect(!FileManager.default.fileExists(atPath: tree + "/run"))
    }

    @Test("killed after its write: recover writes the old list back, the tree is as before")
    func crashAndRecover() throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try contents(of: tree)
        let killed = try run(["reset-method", sibling, "pm"], tree: tree, stopAfter: 1)
        #expect(killed.status == 9, "\(killed.standardError)")
        #expect(read(resetMethodFile(tree, sibling)) == "pm\n")
        let journals = try FileManager.default.contentsOfDirectory(atPath: tree + "/run/vfioctl/journals")
        #expect(journals.count == 1)
        let refused = try run(["reset-method", sibling, "flr"], tree: tree)
        #expect(refused.status != 0 && refused.standardError.contains("vfioctl recover"))
        let recovered = try run(["recover"], tree: tree)
        #expect(recovered.status == 0, "\(recovered.standardError)")
        #expect(read(resetMethodFile(tree, sibling)) == "flr pm\n")
        let after = try contents(of: tree).filter { !$0.key.hasPrefix("run") }
        #expect(after == before)
    }

    @Test(
        "bad methods and addresses: a clear error and no change",
        arguments: [
            (["0000:01:00.1", "acpi"], "the kernel refused \"acpi\" for 0000:01:00.1's reset_method (EINVAL)"),
            (["0000:01:00.1", "flr", "FLR"], "\"FLR\" is no reset method the kernel knows"),
            (["0000:01:00.1", "flr", "flr"], "flr is named twice"),
            (["0000:01:00.1", "default", "pm"], "`default` stands alone"),
            (["0000:01:00.1"], "name the reset methods to keep"),
            (["0000:09:00.0", "flr"], "no PCI function 0000:09:00.0"),
            (["0000:00:02.0", "flr"], "has no reset_method: the kernel is older than 5.15"),
            (["01:00.9", "flr"], "01:00.9"),
            // Validation passes (a module may add it), the kernel model refuses with EINVAL.
            (["0000:01:00.1", "device_specific"], "(EINVAL)"),
        ])
    func refused(arguments: [String], message: String) throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try contents(of: tree)
        let result = try run(["reset-method"] + arguments, tree: tree)
        #expect(result.status != 0)
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(try contents(of: tree).filter { !$0.key.hasPrefix("run") } == before)
        let journals = (try? FileManager.default.contentsOfDirectory(atPath: tree + "/run/vfioctl/journals")) ?? []
        #expect(journals.isEmpty)
    }

    @Test("a FIFO or a link where reset_method should be: refused, nothing written through it")
    func notRegular() throws {
        let (directory, tree) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = resetMethodFile(tree, sibling)
        try FileManager.default.removeItem(atPath: file)
        #expect(mkfifo(file, 0o644) == 0)
        let fifo = try run(["reset-method", sibling, "flr"], tree: tree)
        #expect(fifo.status != 0 && fifo.standardError.contains("is not a regular file"), "\(fifo.standardError)")

        try FileManager.default.removeItem(atPath: file)
        let target = tree + "/victim"
        try "flr pm\n".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: target)
        let link = try run(["reset-method", sibling, "flr"], tree: tree)
        #expect(link.status != 0 && link.standardError.contains("is not a regular file"), "\(link.standardError)")
        #expect(read(target) == "flr pm\n")
    }

    @Test("--help shows examples")
    func help() throws {
        let result = try Tool.vfioctl(["reset-method", "--help"])
        #expect(result.standardOutput.contains("vfioctl reset-method 0000:0b:00.0 device_specific"))
        #expect(result.standardOutput.contains("default"))
    }
}

@Suite("The hook's bus-reset policy from hook.toml")
struct BusResetHookCLITests {
    static let guest = """
        <domain type='kvm'><name>vm1</name><memory unit='MiB'>64</memory>
        <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>
        <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>
        </devices></domain>
        """

    func hook(policy: String?) throws -> Tool.Result {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try BusResetHost.writeTree(at: directory + "/host")
        let setting = policy.map { "bus-reset = \"\($0)\"\n" } ?? ""
        try "root = \"\(directory)/host\"\nstate-dir = \"\(directory)/state\"\nhugepages = \"ignore\"\n\(setting)"
            .write(toFile: directory + "/hook.toml", atomically: true, encoding: .utf8)
        try Self.guest.write(toFile: directory + "/domain.xml", atomically: true, encoding: .utf8)
        return try Tool.run(
            "/bin/sh",
            [
                "-c", "\"$0\" hook libvirt --config \"$1\" vm1 prepare begin - < \"$2\"",
                Tool.buildDirectory + "/vfioctl",
                directory + "/hook.toml", directory + "/domain.xml",
            ])
    }

    @Test("default refuse: the start stops, naming the host-bound bus-mate; warn: a warning line instead")
    func policies() throws {
        let refused = try hook(policy: nil)
        #expect(refused.status != 0)
        #expect(
            refused.standardError.contains(
                "refuse: 0000:01:00.0: its only reset is a secondary bus reset of 0000:00:1c.0, which also resets 0000:01:00.1 (bound to host driver e1000e)"
            ), "\(refused.standardError)")
        let warned = try hook(policy: "warn")
        #expect(warned.standardError.contains("warn: 0000:01:00.0: its only reset is a secondary bus reset"))
        #expect(!warned.standardError.contains("refuse: 0000:01:00.0: its only reset"))
        let bad = try hook(policy: "sometimes")
        #expect(bad.status != 0 && bad.standardError.contains("bus-reset"), "\(bad.standardError)")
    }
}
