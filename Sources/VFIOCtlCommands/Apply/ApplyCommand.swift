import Actions
import ArgumentParser
import HostAccess
import PCIModel
import QuirkDB

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

    static func parse(_ text: String, name: String) throws -> DesiredState {
        let root: TOMLTable
        do { root = try TOMLParser.parse(text) } catch { throw CLIError("\(name):\(error.line): \(error.message)") }
        func fail(_ line: Int, _ message: String) -> CLIError { CLIError("\(name):\(line): \(message)") }
        func tables(_ key: String) throws -> [TOMLTable] {
            guard let entry = root[key] else { return [] }
            guard case .tableArray(let list) = entry.value else {
                throw fail(entry.line, "\(key) must be [[\(key)]] entries")
            }
            return list
        }
        func string(_ table: TOMLTable, _ key: String) throws -> String? {
            guard let entry = table[key] else { return nil }
            guard case .string(let value) = entry.value else { throw fail(entry.line, "\(key) must be a string") }
            return value
        }
        func integer(_ table: TOMLTable, _ key: String) throws -> Int? {
            guard let entry = table[key] else { return nil }
            guard case .integer(let value) = entry.value, value >= 0 else {
                throw fail(entry.line, "\(key) must be a whole number ≥ 0")
            }
            return value
        }
        func allow(_ table: TOMLTable, _ keys: Set<String>, _ place: String) throws {
            if let entry = table.entries.first(where: { !keys.contains($0.key) }) {
                throw fail(
                    entry.line,
                    "unknown key \(entry.key) in [[\(place)]]; known: \(keys.sorted().joined(separator: ", "))")
            }
        }
        for entry in root.entries where !["hugepages", "sriov", "bind"].contains(entry.key) {
            throw fail(entry.line, "unknown section \(entry.key); known: [[hugepages]], [[sriov]], [[bind]]")
        }
        var desired = DesiredState()
        for table in try tables("hugepages") {
            try allow(table, ["size", "count", "node"], "hugepages")
            guard let size = try string(table, "size"), let kib = Hugepages.sizeKiB(named: size) else {
                throw fail(table.line, "hugepages needs size = \"2M\" or \"1G\"")
            }
            guard let count = try integer(table, "count") else { throw fail(table.line, "hugepages needs count") }
            desired.hugepages.append(.init(sizeKiB: kib, count: count, node: try integer(table, "node")))
        }
        for table in try tables("sriov") {
            try allow(table, ["pf", "vfs", "autoprobe", "bind"], "sriov")
            guard let text = try string(table, "pf"), let pf = PCIAddress(text) else {
                throw fail(table.line, "sriov needs pf = \"DDDD:BB:DD.F\"")
            }
            guard let count = try integer(table, "vfs") else { throw fail(table.line, "sriov needs vfs") }
            var autoprobe: Bool?
            if let entry = table["autoprobe"] {
                guard case .bool(let value) = entry.value else {
                    throw fail(entry.line, "autoprobe must be true or false")
                }
                autoprobe = value
            }
            desired.sriov.append(.init(pf: pf, count: count, autoprobe: autoprobe, bind: try string(table, "bind")))
        }
        for table in try tables("bind") {
            try allow(table, ["device", "group", "driver"], "bind")
            let target: String
            if let device = try string(table, "device") {
                guard PCIAddress(device) != nil else {
                    throw fail(table["device"]?.line ?? table.line, "device \(device) is not DDDD:BB:DD.F")
                }
                target = device
            } else if let group = try integer(table, "group") {
                target = "group:\(group)"
            } else {
                throw fail(table.line, "bind needs device or group")
            }
            desired.bindings.append(.init(target: target, driver: try string(table, "driver") ?? "vfio-pci"))
        }
        return desired
    }
}
