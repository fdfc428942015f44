import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

extension PCIAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Where the host comes from: at most one of --root, --snapshot, --lspci-dump; else the live host.
struct SourceOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("A directory holding sys/ and proc/ to read instead of the live host.", valueName: "dir"))
    var root: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A snapshot (.tar.gz or unpacked directory) from `vfioctl snapshot create`.", valueName: "path"))
    var snapshot: String?

    @Option(
        name: .customLong("lspci-dump"),
        help: ArgumentHelp(
            "`lspci -xxx`/`-vvvxxxx` output to read (no kernel groups, only predicted ones).", valueName: "file"))
    var lspciDump: String?

    func validate() throws {
        let given = [root, snapshot, lspciDump].compactMap { $0 }
        if given.count > 1 {
            throw ValidationError("give at most one of --root, --snapshot and --lspci-dump")
        }
    }

    /// Reads the chosen source. The returned snapshot handle keeps an unpacked archive alive.
    func load(keepConfigBytes: Bool = false) throws -> (HostModel, OpenedSnapshot?) {
        if let lspciDump {
            return (try LspciDumpReader(path: lspciDump, keepConfigBytes: keepConfigBytes).read(), nil)
        }
        if let snapshot {
            let opened = try Snapshot.open(snapshot)
            return (try SysfsHostReader(roots: opened.roots).read(source: "snapshot \(snapshot)"), opened)
        }
        if let root {
            return (try SysfsHostReader(roots: HostRoots(base: .init(root))).read(source: "root \(root)"), nil)
        }
        return (try SysfsHostReader(roots: .live).read(source: "live host"), nil)
    }
}

extension SourceOptions {
    /// Whose `etc/vfioctl/quirks.d` extends the quirk database: the --root tree, the
    /// snapshot, or this host (for the live host and for lspci dumps).
    func quirkBase(snapshot: OpenedSnapshot?) -> HostRoots {
        if let snapshot { return snapshot.roots }
        if let root { return HostRoots(base: FilePath(root)) }
        return .live
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON (schema: Docs/json-schema.md) instead of text.")
    var json = false
}
