import Actions
import ArgumentParser
import ConfigFile
import HostAccess
import PCIModel
import SystemPackage

extension VFIOCtl {
    /// `vfioctl apply FILE.toml`: the host's desired state, e.g. at boot before libvirtd.
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the host to a desired state: hugepage pools, VF counts, vfio-pci bindings.",
            discussion: reflow(
                """
                Idempotent: only what differs changes, and every item prints what it did. Order:
                hugepages, then VF counts, then bindings. systemd/vfioctl-apply.service runs it
                before libvirtd. File format (Docs/manual.md):

                  [[hugepages]]
                  size = "1G"
                  count = 8
                  node = 0

                  [[sriov]]
                  pf = "0000:03:00.0"
                  vfs = 4
                  autoprobe = false
                  bind = "vfio-pci"

                  [[bind]]
                  device = "0000:05:00.0"     # or group = 12

                  [[early-bind]]              # vfio-pci at boot (see `vfioctl early-bind`)
                  target = "0000:03:00.0"     # or "group:12"; ids = true adds vfio-pci ids=

                  [[reset-method]]            # reset_method at boot, by a udev rule
                  address = "0000:03:00.0"
                  methods = ["device_specific"]

                  [[expect-group]]            # members[0]'s kernel group holds just these
                  members = ["0000:04:00.0", "0000:04:00.1"]
                  ids = ["8086:10c9", "8086:10c9"]    # optional: vendor:device of each

                A run refuses before its first write when an [[expect-group]] no longer holds
                (a BIOS or kernel update, a card in another slot). --check only compares, --pin
                appends the groups the other entries use as the host has them now.

                Examples:
                  vfioctl apply /etc/vfioctl/desired.toml --dry-run
                  vfioctl apply /etc/vfioctl/desired.toml
                  vfioctl apply --pin /etc/vfioctl/desired.toml --dry-run
                  vfioctl apply --check /etc/vfioctl/desired.toml --json
                """))

        @Argument(help: "The desired-state file.") var file: String
        @Flag(help: "Change nothing: check every [[expect-group]] against the host; exit 1 on a mismatch.")
        var check = false
        @Flag(help: "Append [[expect-group]] for every group the file's entries use, as the host has it now.")
        var pin = false
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if check && pin { throw ValidationError("give --check or --pin, not both") }
            if check && action.dryRun { throw ValidationError("--check changes nothing already; drop --dry-run") }
        }

        func run() async throws {
            if check { return try checkGroups() }
            if pin { return try pinGroups() }
            let desired = try DesiredStateFile.parse(path: file)
            let session = try action.session("apply \(file)")
            let applier = DesiredStateApplier(session: session)
            let report = try session.run { _ in try applier.apply(desired) }
            if output.json {
                print(JSON.array(report.map(JSON.string)).rendered(), terminator: "")
            } else {
                for line in report { print(line) }
            }
        }
    }
}

/// Reads a desired-state file; errors are `file:line: what is wrong`.
enum DesiredStateFile {
    static func parse(path: String) throws -> DesiredState {
        try parse(decode(try readBytes(path), name: path), name: path)
    }

    /// The file's bytes; nil-free: a missing file, a FIFO or a device is an error naming it.
    static func readBytes(_ path: String) throws -> [UInt8] {
        guard
            let bytes = try RootedFileSystem(root: "/").readBytes(
                absolutePath(path), limit: InputLimits.configurationFileBytes)
        else {
            throw CLIError("no desired-state file at \(path)")
        }
        return bytes
    }

    /// The bytes as text; invalid UTF-8 is an error naming the line.
    static func decode(_ bytes: [UInt8], name: String) throws(ConfigFileError) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        var line = 1
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            offset += UTF8.width(scalar)
            if scalar == "\n" { line += 1 }
        }
        throw ConfigFileError(file: name, line: line, message: "not UTF-8 text (byte \(offset + 1) of the file)")
    }

    static func parse(_ text: String, name: String) throws(ConfigFileError) -> DesiredState {
        let root = try ConfigTable.parse(text, file: name)
        try root.allowOnly(["hugepages", "sriov", "bind", "early-bind", "reset-method", "expect-group"])
        var desired = DesiredState()
        for table in try root.tables("hugepages") {
            try table.allowOnly(["size", "count", "node"])
            guard let size = try table.string("size"), let kib = Hugepages.sizeKiB(named: size) else {
                throw table.error("hugepages needs size = \"2M\" or \"1G\"")
            }
            guard let count = try table.integer("count", atLeast: 0) else {
                throw table.error("hugepages needs count")
            }
            desired.hugepages.append(.init(sizeKiB: kib, count: count, node: try table.integer("node", atLeast: 0)))
        }
        for table in try root.tables("sriov") {
            try table.allowOnly(["pf", "vfs", "autoprobe", "bind"])
            guard let text = try table.string("pf"), let pf = PCIAddress(text) else {
                throw table.error("sriov needs pf = \"DDDD:BB:DD.F\"")
            }
            guard let count = try table.integer("vfs", atLeast: 0) else { throw table.error("sriov needs vfs") }
            desired.sriov.append(
                .init(pf: pf, count: count, autoprobe: try table.bool("autoprobe"), bind: try table.string("bind")))
        }
        for table in try root.tables("bind") {
            try table.allowOnly(["device", "group", "driver"])
            let target: String
            if let device = try table.string("device") {
                guard PCIAddress(device) != nil else {
                    throw table.error("device \(device) is not DDDD:BB:DD.F", at: "device")
                }
                target = device
            } else if let group = try table.integer("group", atLeast: 0) {
                target = "group:\(group)"
            } else {
                throw table.error("bind needs device or group")
            }
            desired.bindings.append(.init(target: target, driver: try table.string("driver") ?? "vfio-pci"))
        }
        for table in try root.tables("early-bind") {
            try table.allowOnly(["target", "ids"])
            guard let target = try table.string("target"), DeviceTarget(target) != nil else {
                throw table.error("early-bind needs target = \"DDDD:BB:DD.F\" or \"group:N\"", at: "target")
            }
            desired.earlyBinds.append(.init(target: target, ids: try table.bool("ids") ?? false))
        }
        for table in try root.tables("reset-method") {
            try table.allowOnly(["address", "methods"])
            guard let text = try table.string("address"), let address = PCIAddress(text) else {
                throw table.error("reset-method needs address = \"DDDD:BB:DD.F\"", at: "address")
            }
            guard let names = try table.stringArray("methods"), !names.isEmpty else {
                throw table.error("reset-method needs methods = [\"device_specific\", …]", at: "methods")
            }
            var methods: [ResetMethod] = []
            for name in names {
                do {
                    methods.append(try ResetMethod.parse(name))
                } catch {
                    throw table.error(error.message, at: "methods")
                }
            }
            guard Set(methods).count == methods.count else {
                throw table.error("a method is listed twice", at: "methods")
            }
            desired.resetMethods.append((address, methods))
        }
        for table in try root.tables("expect-group") {
            desired.expectedGroups.append(try expectation(table))
        }
        return desired
    }
}

extension DesiredStateFile {
    /// One `[[expect-group]]`: members (addresses, none twice), ids (same count, `vvvv:dddd`).
    static func expectation(_ table: ConfigTable) throws(ConfigFileError) -> GroupExpectation {
        try table.allowOnly(["members", "ids", "group"])
        guard let names = try table.stringArray("members"), !names.isEmpty else {
            throw table.error("expect-group needs members = [\"DDDD:BB:DD.F\", …]", at: "members")
        }
        guard names.count <= GroupExpectation.maximumMembers else {
            throw table.error(
                "expect-group lists \(names.count) members; a group has at most \(GroupExpectation.maximumMembers)",
                at: "members")
        }
        var members: [PCIAddress] = []
        var seen: Set<PCIAddress> = []
        for name in names {
            guard let address = PCIAddress(name) else {
                throw table.error("member \(name) is not DDDD:BB:DD.F", at: "members")
            }
            guard seen.insert(address).inserted else {
                throw table.error("member \(address) is listed twice", at: "members")
            }
            members.append(address)
        }
        var ids: [GroupExpectation.IDs]?
        if let texts = try table.stringArray("ids") {
            guard texts.count == members.count else {
                throw table.error(
                    "ids has \(texts.count) entries for \(members.count) members: give one vendor:device per member, in order",
                    at: "ids")
            }
            ids = []
            for text in texts {
                guard let pair = GroupExpectation.IDs(text) else {
                    throw table.error("id \(text) is not vendor:device in hex (8086:10c9)", at: "ids")
                }
                ids?.append(pair)
            }
        }
        let number = try table.integer("group", in: 0...Int(Int32.max))
        return GroupExpectation(members: members, ids: ids, number: number, source: "\(table.file):\(table.line)")
    }
}
