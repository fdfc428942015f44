import Foundation
import TestSupport
import Testing

/// The promise "never leaves a host half-configured", tested by force: every mutating action
/// is killed with SIGKILL after its write k, for every k of its plan, on a generated tree
/// whose kernel is TestSupport's model (through `vfioctl-faultrun`, the real command line
/// with the model installed); then `vfioctl recover` runs, and the tree must equal its state
/// before the action byte for byte (the journal directory and the lock excluded).
@Suite("Killed after every write, recovered byte for byte")
struct FaultInjectionTests {
    struct Action: CustomTestStringConvertible, Sendable {
        var name: String
        /// Brings the pristine tree to the state the action starts from (runner arguments).
        var setup: [[String]] = []
        /// The action's arguments; `TREE` and `DIR` are replaced by the tree and its directory.
        var arguments: [String]
        /// Standard input (the hook's domain XML), when the action reads one.
        var input: String?
        var testDescription: String { name }
    }

    static let guestXML = """
        <domain type='kvm'><name>vm1</name><memory unit='MiB'>16</memory>
        <memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>
        <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>
        <hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x06' slot='0x00' function='0x0'/></source></hostdev>
        <interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x2'/></source></interface>
        </devices></domain>
        """

    /// VFs as the kernel creates them: the generated tree's VFs are laid out by hostgen, and
    /// VFs removed and created again get the kernel's layout (and, on a real kernel, new
    /// group numbers), so actions that change VF counts start from kernel-made VFs.
    static let kernelMadeVFs = [
        ["sriov", "set", "0000:03:00.0", "0", "--timeout", "2", "--root", "TREE"],
        ["sriov", "set", "0000:03:00.0", "7", "--timeout", "2", "--root", "TREE"],
    ]

    static let actions: [Action] = [
        Action(name: "bind", arguments: ["bind", "0000:06:00.0", "--root", "TREE"]),
        Action(
            name: "restore", setup: [["bind", "0000:06:00.0", "--root", "TREE"]],
            arguments: ["restore", "0000:06:00.0", "--root", "TREE"]),
        Action(
            name: "sriov set", setup: kernelMadeVFs,
            arguments: ["sriov", "set", "0000:03:00.0", "2", "--autoprobe", "off", "--timeout", "2", "--root", "TREE"]),
        Action(
            name: "hugepages reserve",
            arguments: ["hugepages", "reserve", "--size", "2M", "--count", "8", "--root", "TREE"]),
        Action(name: "apply", setup: kernelMadeVFs, arguments: ["apply", "DIR/desired.toml", "--root", "TREE"]),
        Action(name: "early-bind", arguments: ["early-bind", "0000:06:00.0", "--root", "TREE"]),
        Action(
            name: "early-bind --remove",
            setup: [
                ["early-bind", "0000:0c:00.0", "--root", "TREE"],
                ["early-bind", "0000:06:00.0", "--ids", "--root", "TREE"],
            ],
            arguments: ["early-bind", "--remove", "0000:06:00.0", "--root", "TREE"]),
        Action(name: "apply boot files", arguments: ["apply", "DIR/desired-boot.toml", "--root", "TREE"]),
        Action(
            name: "hook prepare", setup: [["sriov", "set", "0000:03:00.0", "0", "--timeout", "2", "--root", "TREE"]],
            arguments: ["hook", "libvirt", "--config", "DIR/hook.toml", "vm1", "prepare", "begin", "-"],
            input: guestXML),
    ]

    static var runner: String { Tool.buildDirectory + "/vfioctl-faultrun" }

    /// A generated 64-function host with a 2 MiB hugepage pool, plus the files the actions
    /// read (desired.toml, hook.toml), in `directory`.
    func makePristine(in directory: String) throws -> String {
        let tree = directory + "/host"
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", tree]).status == 0)
        let pool = tree + "/sys/kernel/mm/hugepages/hugepages-2048kB"
        try FileManager.default.createDirectory(atPath: pool, withIntermediateDirectories: true)
        try "0\n".write(toFile: pool + "/nr_hugepages", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: pool + "/free_hugepages", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: tree + "/proc/sys/vm", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: tree + "/proc/sys/vm/compact_memory", contents: Data())
        try EarlyBindCLITests.prepareBootFiles(tree)
        return tree
    }

    func writeInputs(tree: String, directory: String) throws {
        try """
        [[hugepages]]
        size = "2M"
        count = 4
        [[sriov]]
        pf = "0000:03:00.0"
        vfs = 2
        autoprobe = false
        [[bind]]
        device = "0000:06:00.0"
        driver = "vfio-pci"
        """.write(toFile: directory + "/desired.toml", atomically: true, encoding: .utf8)
        try """
        [[early-bind]]
        target = "0000:06:00.0"
        [[reset-method]]
        address = "0000:06:00.0"
        methods = ["flr"]
        """.write(toFile: directory + "/desired-boot.toml", atomically: true, encoding: .utf8)
        try """
        root = "\(tree)"
        state-dir = "\(tree)/run/vfioctl"
        hugepages = "reserve"
        create-vfs = true
        bind-unmanaged = true
        """.write(toFile: directory + "/hook.toml", atomically: true, encoding: .utf8)
    }

    /// Runs the runner on `tree`; `stopAfter` kills it after that many writes.
    func run(_ arguments: [String], tree: String, directory: String, input: String?, stopAfter: Int?) throws
        -> Tool.Result
    {
        var environment = ["VFIOCTL_FAULT_TREE": tree]
        if let stopAfter { environment["VFIOCTL_TEST_STOP_AFTER_WRITES"] = String(stopAfter) }
        let resolved = arguments.map {
            $0.replacingOccurrences(of: "TREE", with: tree).replacingOccurrences(of: "DIR", with: directory)
        }
        guard let input else { return try Tool.run(Self.runner, resolved, environment: environment) }
        try input.write(toFile: directory + "/stdin", atomically: true, encoding: .utf8)
        // The shell reports a SIGKILLed child as 137; normalised to 9 below.
        let result = try Tool.run(
            "/bin/sh", ["-c", "exec \"$@\" < \"$0\"", directory + "/stdin", Self.runner] + resolved,
            environment: environment)
        return result.status == 137 ? Tool.Result(status: 9, standardOutput: "", standardError: "") : result
    }

    /// Every regular file's bytes and every link's target below `tree`, by relative path; the
    /// journal directory and the lock are left out (they are recovery's own).
    func contents(of tree: String, includingState: Bool = false) throws -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? tree : tree + "/" + relative
            for name in try fm.contentsOfDirectory(atPath: path) {
                let child = relative.isEmpty ? name : relative + "/" + name
                if !includingState, child.hasPrefix("run/vfioctl/journals") || child == "run/vfioctl/lock" {
                    continue
                }
                let type = try fm.attributesOfItem(atPath: tree + "/" + child)[.type] as? FileAttributeType
                switch type {
                case .typeSymbolicLink?:
                    result[child] = "-> " + (try fm.destinationOfSymbolicLink(atPath: tree + "/" + child))
                case .typeDirectory?:
                    if includingState { result[child + "/"] = "directory" }
                    try walk(child)
                default:
                    result[child] = try Data(contentsOf: URL(fileURLWithPath: tree + "/" + child)).base64EncodedString()
                }
            }
        }
        try walk("")
        return result
    }

    func differences(_ a: [String: String], _ b: [String: String]) -> [String] {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    @Test("kill after write k, recover, compare", arguments: actions)
    func killAndRecover(action: Action) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pristine = try makePristine(in: directory + "/pristine")
        try writeInputs(tree: pristine, directory: directory + "/pristine")
        for step in action.setup {
            let result = try run(step, tree: pristine, directory: directory + "/pristine", input: nil, stopAfter: nil)
            #expect(result.status == 0, "setup \(step): \(result.standardError)")
        }
        let before = try contents(of: pristine)
        var killed = 0
        for k in 1...64 {
            let work = directory + "/k\(k)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            #expect(try Tool.run("/bin/cp", ["-a", pristine, work + "/host"]).status == 0)
            let tree = work + "/host"
            try writeInputs(tree: tree, directory: work)
            // Paths inside the tree (the hook's config) name the copy; the rest must be equal.
            let result = try run(action.arguments, tree: tree, directory: work, input: action.input, stopAfter: k)
            if result.status != 9 {
                // Fewer than k writes: the action ran to its end.
                #expect(result.status == 0, "\(action.name) without a kill: \(result.standardError)")
                #expect(!differences(before, try contents(of: tree)).isEmpty, "\(action.name) changed nothing")
                break
            }
            killed += 1
            let journals = try FileManager.default.contentsOfDirectory(atPath: tree + "/run/vfioctl/journals")
            #expect(journals.count == 1, "killed after write \(k): journals \(journals)")
            // Any other action refuses while the journal waits.
            let refused = try run(
                ["sriov", "set", "0000:03:00.0", "1", "--root", "TREE"], tree: tree, directory: work, input: nil,
                stopAfter: nil)
            #expect(refused.status != 0 && refused.standardError.contains("vfioctl recover"))
            let recovered = try run(
                ["recover", "--root", "TREE"], tree: tree, directory: work, input: nil, stopAfter: nil)
            #expect(recovered.status == 0, "recover after write \(k): \(recovered.standardError)")
            let diff = differences(before, try contents(of: tree))
            let identical = diff.isEmpty
            #expect(identical, "\(action.name) killed after write \(k), recovered: differs in \(diff.prefix(6))")
            #expect(try FileManager.default.contentsOfDirectory(atPath: tree + "/run/vfioctl/journals").isEmpty)
            try? FileManager.default.removeItem(atPath: work)
        }
        #expect(killed >= 2, "\(action.name) was killed after only \(killed) writes")
        print("FAULT \(action.name) killed-after \(killed) writes, recovered each")
    }

    /// A prepared copy of the pristine tree for `action` (its setup run), in `directory`.
    func prepared(_ action: Action, in directory: String) throws -> String {
        let tree = try makePristine(in: directory)
        try writeInputs(tree: tree, directory: directory)
        for step in action.setup {
            let result = try run(step, tree: tree, directory: directory, input: nil, stopAfter: nil)
            #expect(result.status == 0, "setup \(step): \(result.standardError)")
        }
        return tree
    }

    @Test(
        "--dry-run changes nothing anywhere, state directory included",
        arguments: actions.filter { $0.input == nil })
    func dryRun(action: Action) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try prepared(action, in: directory)
        let before = try contents(of: tree, includingState: true)
        let result = try run(
            action.arguments + ["--dry-run"], tree: tree, directory: directory, input: nil, stopAfter: nil)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("echo ") || result.standardOutput.contains("would"))
        let diff = differences(before, try contents(of: tree, includingState: true))
        let identical = diff.isEmpty
        #expect(identical, "\(action.name) --dry-run changed \(diff.prefix(6))")
    }

    @Test("recover --dry-run after a crash prints the undo and leaves tree and journal as they are")
    func recoverDryRun() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try prepared(Self.actions[0], in: directory)
        let crashed = try run(Self.actions[0].arguments, tree: tree, directory: directory, input: nil, stopAfter: 4)
        #expect(crashed.status == 9)
        let before = try contents(of: tree, includingState: true)
        let dry = try run(
            ["recover", "--dry-run", "--root", "TREE"], tree: tree, directory: directory, input: nil, stopAfter: nil)
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(dry.standardOutput.contains("would undo the interrupted bind group"))
        #expect(dry.standardOutput.contains("driver_override"))
        let diff = differences(before, try contents(of: tree, includingState: true))
        let identical = diff.isEmpty
        #expect(identical, "recover --dry-run changed \(diff.prefix(6))")
        let real = try run(["recover", "--root", "TREE"], tree: tree, directory: directory, input: nil, stopAfter: nil)
        #expect(real.status == 0 && real.standardOutput.contains("recovered from an interrupted bind group"))
    }

    /// Whether this machine lets a test mount a private tmpfs (`unshare -m`, as root).
    static let canMount: Bool = {
        (try? Tool.run("/usr/bin/unshare", ["-m", "/bin/true"]).status) == 0
    }()

    @Test(
        "a full disk, a file size limit or a read-only state directory: refused before the first host write",
        .enabled(if: canMount, "needs unshare -m (root) for a private tmpfs"),
        arguments: [
            ("read-only", "mount -t tmpfs -o ro,size=64k tmpfs \"$STATE\""),
            (
                "full",
                "mount -t tmpfs -o size=64k tmpfs \"$STATE\" && { dd if=/dev/zero of=\"$STATE/fill\" bs=4k 2>/dev/null; true; }"
            ),
            ("file size limit", "ulimit -f 0"),
        ])
    func journalCannotBeWritten(condition: String, preparation: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tree = try prepared(Self.actions[0], in: directory)
        let state = directory + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let before = try contents(of: tree)
        let script = "STATE=\"$1\"; \(preparation) || exit 99; shift; exec \"$@\""
        let result = try Tool.run(
            "/usr/bin/unshare",
            [
                "-m", "/bin/sh", "-c", script, "sh", state, Self.runner, "bind", "0000:06:00.0", "--root", tree,
                "--state-dir", state,
            ],
            environment: ["VFIOCTL_FAULT_TREE": tree])
        #expect(result.status != 0 && result.status != 99, "\(condition): \(result.standardError)")
        #expect(
            result.standardError.contains("nothing was changed") || result.standardError.contains("was not made"),
            "\(condition): \(result.standardError)")
        let diff = differences(before, try contents(of: tree))
        let identical = diff.isEmpty
        #expect(identical, "\(condition): the tree changed: \(diff.prefix(6))")
    }
}
