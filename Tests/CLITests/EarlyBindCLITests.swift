import Foundation
import TestSupport
import Testing

/// `vfioctl early-bind` and the boot-time files of `vfioctl apply`, on generated trees with a
/// module index (lib/modules/RELEASE) and, where it matters, a real initramfs image (cpio +
/// gzip, listed by Debian's lsinitramfs).
@Suite("Early binding and boot-time reset methods")
struct EarlyBindCLITests {
    static let release = "6.1.0-vfioctl-test"
    static let rules = "etc/udev/rules.d/40-vfioctl-early-bind.rules"
    static let modprobe = "etc/modprobe.d/vfioctl-early-bind.conf"
    static let resetRules = "etc/udev/rules.d/41-vfioctl-reset-method.rules"
    static let header =
        "# Written by vfioctl (early-bind); the whole file is vfioctl's and is rewritten by it: do not edit,"
        + " change it with `vfioctl early-bind`.\n"

    /// The synthetic 64-function host (06:00.0 and 06:00.1: an e1000e pair in one group; 03:00.0,
    /// 04:00.0, 05:00.0: igb PFs sharing 8086:10c9) with the directories udev and kmod own and
    /// a module index where e1000e and igb are modules.
    static func makeTree(in directory: String) throws -> String {
        let tree = directory + "/host"
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", tree]).status == 0)
        try prepareBootFiles(tree)
        return tree
    }

    /// What early-bind needs in a tree: udev's and kmod's directories, the kernel release and
    /// its module index. Shared with the fault-injection harness.
    static func prepareBootFiles(_ tree: String) throws {
        let fm = FileManager.default
        for directory in ["etc/udev/rules.d", "etc/modprobe.d", "proc/sys/kernel", "lib/modules/\(release)", "boot"] {
            try fm.createDirectory(atPath: tree + "/" + directory, withIntermediateDirectories: true)
        }
        try (release + "\n").write(toFile: tree + "/proc/sys/kernel/osrelease", atomically: true, encoding: .utf8)
        try """
        kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz: kernel/drivers/net/ptp/ptp.ko.xz
        kernel/drivers/net/ethernet/intel/igb/igb.ko.xz: kernel/drivers/i2c/algos/i2c-algo-bit.ko.xz
        kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/pci/vfio-pci-core.ko.xz

        """.write(toFile: tree + "/lib/modules/\(release)/modules.dep", atomically: true, encoding: .utf8)
        try "kernel/drivers/pci/pcie/portdrv.ko\n".write(
            toFile: tree + "/lib/modules/\(release)/modules.builtin", atomically: true, encoding: .utf8)
        try """
        alias pci:v00008086d0000105Esv*sd*bc*sc*i* e1000e
        alias pci:v00008086d000010C9sv*sd*bc*sc*i* igb
        alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci

        """.write(toFile: tree + "/lib/modules/\(release)/modules.alias", atomically: true, encoding: .utf8)
    }

    /// Every file's bytes, every link's target and every directory below `tree`.
    static func contents(of tree: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: tree) else { return result }
        while let relative = walker.nextObject() as? String {
            let path = tree + "/" + relative
            let type = try fm.attributesOfItem(atPath: path)[.type] as? FileAttributeType
            switch type {
            case .typeSymbolicLink?:
                result[relative] = Data(("-> " + (try fm.destinationOfSymbolicLink(atPath: path))).utf8)
            case .typeDirectory?: result[relative + "/"] = Data()
            case .typeRegular?: result[relative] = try Data(contentsOf: URL(fileURLWithPath: path))
            default: result[relative] = Data("special".utf8)
            }
        }
        return result
    }

    static func changed(_ a: [String: Data], _ b: [String: Data]) -> [String] {
        // run/ is vfioctl's state directory (lock, journals), not part of the host.
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] && !$0.hasPrefix("run/") }.sorted()
    }

    static func read(_ tree: String, _ path: String) -> String? {
        try? String(contentsOfFile: tree + "/" + path, encoding: .utf8)
    }

    /// An initramfs image (newc cpio, gzip) holding `files` (empty), as mkinitramfs writes one.
    static func writeImage(_ tree: String, files: [String]) throws {
        let staging = tree + "/../image-staging"
        try? FileManager.default.removeItem(atPath: staging)
        for file in files {
            let path = staging + "/" + file
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data())
        }
        let image = tree + "/boot/initrd.img-\(release)"
        let result = try Tool.run(
            "/bin/sh",
            ["-c", "cd \"$0\" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -n > \"$1\"", staging, image])
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test("early-bind writes exactly the documented rule and softdep; --list reads them back")
    func writesDocumentedFiles() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let result = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            Self.read(tree, Self.rules) == Self.header + """
                # entry 0000:06:00.0 host-driver=e1000e kind=module ids=-
                ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:06:00.0", ATTR{driver_override}="vfio-pci"
                # entry 0000:06:00.1 host-driver=e1000e kind=module ids=-
                ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:06:00.1", ATTR{driver_override}="vfio-pci"

                """)
        #expect(Self.read(tree, Self.modprobe) == Self.header + "softdep e1000e pre: vfio-pci\n")
        let mode = try FileManager.default.attributesOfItem(atPath: tree + "/" + Self.rules)[.posixPermissions] as? Int
        #expect(mode == 0o644)
        let list = try Tool.vfioctl(["early-bind", "--list", "--json", "--root", tree])
        #expect(list.status == 0, "\(list.standardError)")
        let json = try JSONSerialization.jsonObject(with: Data(list.standardOutput.utf8)) as? [String: Any]
        let entries = json?["entries"] as? [[String: Any]] ?? []
        #expect(entries.map { $0["address"] as? String } == ["0000:06:00.0", "0000:06:00.1"])
        #expect(entries.first?["hostDriver"] as? String == "e1000e")
        // Twice is once: nothing is rewritten.
        let again = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(again.status == 0 && again.standardOutput.contains("nothing changed"), "\(again.standardOutput)")
    }

    @Test("--remove of the last entry leaves the tree byte for byte as before; --dry-run changes nothing")
    func removeAndDryRun() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let before = try Self.contents(of: tree)
        let target = "group:" + (try group(of: "0000:06:00.0", tree))
        let dry = try Tool.vfioctl(["early-bind", target, "--root", tree, "--dry-run"])
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.standardOutput.contains("softdep e1000e pre: vfio-pci"), "\(dry.standardOutput)")
        #expect(try Self.contents(of: tree) == before, "--dry-run changed the tree")
        #expect(try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree]).status == 0)
        #expect(Self.read(tree, Self.rules) != nil)
        let removed = try Tool.vfioctl(["early-bind", "--remove", "0000:06:00.0", "--root", tree])
        #expect(removed.status == 0, "\(removed.standardError)")
        let diff = Self.changed(before, try Self.contents(of: tree))
        #expect(diff.isEmpty, "differs in \(diff)")
        let again = try Tool.vfioctl(["early-bind", "--remove", "0000:06:00.0", "--root", tree])
        #expect(again.status != 0 && again.standardError.contains("not early-bound"), "\(again.standardError)")
    }

    func group(of address: String, _ tree: String) throws -> String {
        let link = try FileManager.default.destinationOfSymbolicLink(
            atPath: tree + "/sys/bus/pci/devices/\(address)/iommu_group")
        return (link as NSString).lastPathComponent
    }

    @Test("--ids is refused, with the list, when other functions share the ids; alone it is written")
    func idsShared() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let before = try Self.contents(of: tree)
        let refused = try Tool.vfioctl(["early-bind", "0000:03:00.0", "--ids", "--root", tree])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("ids=8086:10c9"), "\(refused.standardError)")
        #expect(refused.standardError.contains("0000:04:00.0") && refused.standardError.contains("0000:05:00.0"))
        #expect(!refused.standardError.contains("0000:03:00.0 (on"), "\(refused.standardError)")
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
        // 8086:105e: the pair at 06:00 and the one at 0c:00. Refused while 0c:00 is not early-bound…
        let shared = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--ids", "--root", tree])
        #expect(shared.status != 0)
        #expect(
            shared.standardError.contains("0000:0c:00.0 (on e1000e), 0000:0c:00.1 (on e1000e)"),
            "\(shared.standardError)")
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
        // …and written once it is: vfio-pci takes nothing it should not.
        #expect(try Tool.vfioctl(["early-bind", "0000:0c:00.0", "--root", tree]).status == 0)
        let pair = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--ids", "--root", tree])
        #expect(pair.status == 0, "\(pair.standardError)")
        #expect(
            Self.read(tree, Self.modprobe)
                == Self.header + "softdep e1000e pre: vfio-pci\noptions vfio-pci ids=8086:105e\n")
    }

    /// Found by a hostile review: each of these wrote a boot file that would hurt at the next
    /// boot, or left one that no longer matched what was asked.
    @Test("the host's root disk, ids= left for removed functions, built-in vfio-pci: refused with no change")
    func refusedForTheNextBoot() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let fm = FileManager.default
        try fm.createDirectory(atPath: tree + "/sys/class/block", withIntermediateDirectories: true)
        try "/dev/nvme0n1p2 / ext4 rw 0 0\n".write(toFile: tree + "/proc/mounts", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(
            atPath: tree + "/sys/class/block/nvme0n1p2",
            withDestinationPath: "../../devices/pci0000:00/0000:00:1c.5/0000:06:00.0/nvme/nvme0/nvme0n1/nvme0n1p2")
        let before = try Self.contents(of: tree)
        let root = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(root.status != 0)
        #expect(root.standardError.contains("root-filesystem") && root.standardError.contains("--force"))
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
        #expect(try Tool.vfioctl(["early-bind", "0000:06:00.0", "--force", "--root", tree]).status == 0)
        #expect(try Tool.vfioctl(["early-bind", "--remove", "0000:06:00.0", "--root", tree]).status == 0)
        try fm.removeItem(atPath: tree + "/proc/mounts")

        // ids= stays right only while every function with those ids is early-bound.
        #expect(try Tool.vfioctl(["early-bind", "0000:0c:00.0", "--root", tree]).status == 0)
        #expect(try Tool.vfioctl(["early-bind", "0000:06:00.0", "--ids", "--root", tree]).status == 0)
        let withIDs = try Self.contents(of: tree)
        let removal = try Tool.vfioctl(["early-bind", "--remove", "0000:0c:00.0", "--root", tree])
        #expect(removal.status != 0)
        #expect(removal.standardError.contains("keeps `options vfio-pci ids=8086:105e`"), "\(removal.standardError)")
        #expect(Self.changed(withIDs, try Self.contents(of: tree)).isEmpty)
        #expect(try Tool.vfioctl(["early-bind", "--remove", "0000:06:00.0", "--root", tree]).status == 0)
        #expect(try Tool.vfioctl(["early-bind", "--remove", "0000:0c:00.0", "--root", tree]).status == 0)

        // Built-in vfio-pci never reads modprobe.d options.
        let modules = tree + "/lib/modules/\(Self.release)"
        try "kernel/drivers/pci/pcie/portdrv.ko\nkernel/drivers/vfio/pci/vfio-pci.ko\n".write(
            toFile: modules + "/modules.builtin", atomically: true, encoding: .utf8)
        #expect(try Tool.vfioctl(["early-bind", "0000:0c:00.0", "--root", tree]).status == 0)
        let beforeIDs = try Self.contents(of: tree)
        let builtin = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--ids", "--root", tree])
        #expect(builtin.status != 0)
        #expect(builtin.standardError.contains("vfio-pci.ids=8086:105e"), "\(builtin.standardError)")
        #expect(Self.changed(beforeIDs, try Self.contents(of: tree)).isEmpty)
    }

    @Test("a rule rewritten while the image holds the old one asks for update-initramfs -u")
    func changedSinceImage() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let module = "usr/lib/modules/\(Self.release)/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz"
        #expect(try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree]).status == 0)
        try Self.writeImage(
            tree,
            files: [
                module, "usr/lib/udev/rules.d/40-vfioctl-early-bind.rules", "etc/modprobe.d/vfioctl-early-bind.conf",
            ])
        let more = try Tool.vfioctl(["early-bind", "0000:0c:00.0", "--json", "--root", tree])
        #expect(more.status == 0, "\(more.standardError)")
        let json = try JSONSerialization.jsonObject(with: Data(more.standardOutput.utf8)) as? [String: Any]
        let check = json?["initramfs"] as? [String: Any] ?? [:]
        #expect(check["needsRebuild"] as? Bool == true)
        #expect((check["changedSinceImage"] as? [String])?.contains(Self.rules) == true)
    }

    @Test("recover puts back only vfioctl's own file: a user's file written since stays, and so does the journal")
    func recoverLeavesForeignFiles() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let crashed = try Tool.vfioctl(
            ["early-bind", "0000:06:00.0", "--root", tree], environment: ["VFIOCTL_TEST_STOP_AFTER_WRITES": "1"])
        #expect(crashed.status != 0)
        try "my rule\n".write(toFile: tree + "/" + Self.rules, atomically: true, encoding: .utf8)
        let recover = try Tool.vfioctl(["recover", "--root", tree])
        #expect(recover.status != 0)
        #expect(recover.standardError.contains("was not written by vfioctl"), "\(recover.standardError)")
        #expect(Self.read(tree, Self.rules) == "my rule\n")
    }

    @Test("a host driver in the initramfs: update-initramfs -u, and the image lacks rule and softdep until rebuilt")
    func initramfs() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let module = "usr/lib/modules/\(Self.release)/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz"
        try Self.writeImage(tree, files: [module, "etc/modprobe.d/other.conf"])
        let result = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("e1000e is in the initramfs"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("run update-initramfs -u"), "\(result.standardOutput)")
        func check() throws -> [String: Any] {
            let list = try Tool.vfioctl(["early-bind", "--json", "--root", tree])
            #expect(list.status == 0, "\(list.standardError)")
            let json = try JSONSerialization.jsonObject(with: Data(list.standardOutput.utf8)) as? [String: Any]
            return json?["initramfs"] as? [String: Any] ?? [:]
        }
        let stale = try check()
        #expect(stale["needsRebuild"] as? Bool == true)
        #expect(
            stale["missingFromImage"] as? [String] == [
                "lib/udev/rules.d/40-vfioctl-early-bind.rules", "etc/modprobe.d/vfioctl-early-bind.conf",
            ])
        #expect(stale["driversInImage"] as? [String] == ["e1000e"])
        // What mkinitramfs puts in after update-initramfs -u (usr-merged: lib is usr/lib).
        try Self.writeImage(
            tree,
            files: [
                module, "usr/lib/udev/rules.d/40-vfioctl-early-bind.rules", "etc/modprobe.d/vfioctl-early-bind.conf",
            ])
        let rebuilt = try check()
        #expect(rebuilt["needsRebuild"] as? Bool == false)
        #expect(rebuilt["missingFromImage"] as? [String] == [])
        // After removing the last entry, the image still holding the rule is stale.
        #expect(try Tool.vfioctl(["early-bind", "--remove", "0000:06:00.0", "--root", tree]).status == 0)
        let removed = try check()
        #expect(removed["needsRebuild"] as? Bool == true)
        #expect((removed["staleInImage"] as? [String])?.count == 2)
    }

    @Test(
        "a rules file that is a link out of the root, a FIFO, a directory or someone else's file: refused, nothing changed",
        arguments: ["link", "fifo", "directory", "foreign", "modprobe-link"])
    func hostileFiles(kind: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let fm = FileManager.default
        let path = tree + "/" + (kind == "modprobe-link" ? Self.modprobe : Self.rules)
        switch kind {
        case "link", "modprobe-link":
            try "outside\n".write(toFile: directory + "/outside", atomically: true, encoding: .utf8)
            try fm.createSymbolicLink(atPath: path, withDestinationPath: directory + "/outside")
        case "fifo": #expect(mkfifo(path, 0o644) == 0)
        case "directory": try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
        default: try "ACTION==\"add\", RUN+=\"/bin/true\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        }
        let before = try Self.contents(of: tree)
        let started = Date()
        let result = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(result.status != 0)
        let expected = [
            "link": "is a symbolic link", "modprobe-link": "is a symbolic link", "fifo": "is a FIFO",
            "directory": "is a directory", "foreign": "was not written by vfioctl",
        ][kind]!
        #expect(result.standardError.contains(expected), "\(result.standardError)")
        #expect(result.standardError.contains("nothing was changed"), "\(result.standardError)")
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
        if kind.hasSuffix("link") {
            #expect(try String(contentsOfFile: directory + "/outside", encoding: .utf8) == "outside\n")
        }
    }

    @Test("a host driver name that is no module name never reaches modprobe.d")
    func hostileDriverName() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        let fm = FileManager.default
        let device = tree + "/sys/bus/pci/devices/0000:06:00.0"
        let target = try fm.destinationOfSymbolicLink(atPath: device + "/driver")
        let evil = (target as NSString).deletingLastPathComponent + "/e1000e;install"
        try fm.createDirectory(
            atPath: (device as NSString).appendingPathComponent(evil), withIntermediateDirectories: true)
        try fm.removeItem(atPath: device + "/driver")
        try fm.createSymbolicLink(atPath: device + "/driver", withDestinationPath: evil)
        let before = try Self.contents(of: tree)
        let result = try Tool.vfioctl(["early-bind", "0000:06:00.0", "--root", tree])
        #expect(result.status != 0)
        #expect(result.standardError.contains("cannot stand in a modprobe.d line"), "\(result.standardError)")
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
    }

    @Test("apply: [[early-bind]] and [[reset-method]] write the boot files once, then say unchanged")
    func apply() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        try """
        [[early-bind]]
        target = "0000:06:00.0"
        [[reset-method]]
        address = "0000:06:00.0"
        methods = ["device_specific", "bus"]
        """.write(toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        let first = try Tool.vfioctl(["apply", directory + "/desired.toml", "--root", tree])
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("wrote /\(Self.resetRules)"), "\(first.standardOutput)")
        #expect(
            Self.read(tree, Self.resetRules)
                == "# Written by vfioctl (apply); the whole file is vfioctl's and is rewritten by it: do not edit,"
                + " change it with `vfioctl apply`.\n"
                + "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"0000:06:00.0\", ATTR{reset_method}=\"device_specific bus\"\n"
        )
        #expect(Self.read(tree, Self.modprobe) == Self.header + "softdep e1000e pre: vfio-pci\n")
        let before = try Self.contents(of: tree)
        let second = try Tool.vfioctl(["apply", directory + "/desired.toml", "--root", tree])
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.standardOutput.contains("early-bind 0000:06:00.0: 0000:06:00.0, 0000:06:00.1, unchanged"))
        #expect(second.standardOutput.contains("reset-method 0000:06:00.0: device_specific bus at boot, unchanged"))
        #expect(!second.standardOutput.contains("wrote"), "\(second.standardOutput)")
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
    }

    @Test("apply refuses a reset method the kernel does not know, naming the ones it does")
    func unknownResetMethod() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try Self.makeTree(in: directory)
        try """
        [[reset-method]]
        address = "0000:06:00.0"
        methods = ["flr", "warm_reboot"]
        """.write(toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        let before = try Self.contents(of: tree)
        let result = try Tool.vfioctl(["apply", directory + "/desired.toml", "--root", tree])
        #expect(result.status != 0)
        #expect(result.standardError.contains("warm_reboot is not a reset method"), "\(result.standardError)")
        #expect(result.standardError.contains("device_specific, acpi, flr, af_flr, pm, bus, cxl_bus"))
        #expect(Self.changed(before, try Self.contents(of: tree)).isEmpty)
    }
}
