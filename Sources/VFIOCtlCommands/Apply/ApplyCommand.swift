import Actions
import ArgumentParser
import ConfigFile
import HostAccess
import PCIModel

extension VFIOCtl {
    /// `vfioctl apply FILE.toml`: the host's desired state, e.g. at boot before libvirtd.
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the host to a desired state: hugepage pools, VF counts, vfio-pci bindings.",
            discussion: """
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

                Examples:
                  vfioctl apply /etc/vfioctl/desired.toml --dry-run
                  vfioctl apply /etc/vfioctl/desired.toml
                """)

        @Argument(help: "The desired-state file.") var file: String
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
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
        guard let text = try readTextFile(path) else {
            throw CLIError("no desired-state file at \(path)")
        }
        return try parse(text, name: path)
    }

    static func parse(_ text: String, name: String) throws(ConfigFileError) -> DesiredState {
        let root = try ConfigTable.parse(text, file: name)
        try root.allowOnly(["hugepages", "sriov", "bind", "early-bind", "reset-method"])
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
        return desired
    }
}
