import ArgumentParser
import HostAccess
import PCIModel
import QuirkDB
import SystemPackage

extension VFIOCtl {
    /// `vfioctl quirks …`: the quirk database.
    struct QuirksCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "quirks",
            abstract: "List, show, match and validate device quirks (Docs/quirks.md).",
            discussion: reflow(
                """
                The database ships inside vfioctl (Quirks/*.toml) and is extended or overridden by
                /etc/vfioctl/quirks.d/*.toml: an entry with a shipped id replaces it.

                Examples:
                  vfioctl quirks list
                  vfioctl quirks show intel-82576-dual-pf-windows-2008
                  vfioctl quirks match 0000:04:00.0 --snapshot seed-host.tar.gz
                  vfioctl quirks check /etc/vfioctl/quirks.d
                """),
            subcommands: [QuirksList.self, QuirksShow.self, QuirksMatch.self, QuirksCheck.self])
    }

    struct QuirksList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per quirk.")
        @OptionGroup var output: OutputOptions
        @Option(help: ArgumentHelp("Host root whose etc/vfioctl/quirks.d extends the database.", valueName: "dir"))
        var root: String?

        func run() async throws {
            let database = try loadQuirkDatabase(base: root.map { HostRoots(base: FilePath($0)) } ?? .live)
            if output.json {
                print(JSON.array(database.quirks.map(QuirkJSON.summary)).rendered(), terminator: "")
                return
            }
            for quirk in database.quirks {
                print("\(quirk.id.padded(48)) \(quirk.effect.name.padded(14)) \(quirk.title)")
            }
        }
    }

    struct QuirksShow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Everything about one quirk.")
        @OptionGroup var output: OutputOptions
        @Option(help: ArgumentHelp("Host root whose etc/vfioctl/quirks.d extends the database.", valueName: "dir"))
        var root: String?
        @Argument(help: "The quirk id.") var id: String

        func run() async throws {
            let database = try loadQuirkDatabase(base: root.map { HostRoots(base: FilePath($0)) } ?? .live)
            guard let quirk = database.quirk(id: id) else {
                throw CLIError("no quirk \(id); `vfioctl quirks list` shows them all")
            }
            if output.json {
                print(QuirkJSON.detail(quirk).rendered(), terminator: "")
                return
            }
            print(QuirkJSON.text(quirk), terminator: "")
        }
    }

    struct QuirksMatch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "match",
            abstract: "The quirks that match one device on this host (or a --root/--snapshot/dump).")
        @OptionGroup var source: SourceOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Device address (DDDD:BB:DD.F or BB:DD.F).", completion: .pciAddress) var address: PCIAddress

        func run() async throws {
            let (model, snapshot) = try source.load()
            defer { withExtendedLifetime(snapshot) {} }
            guard let device = model[address] else {
                throw CLIError("no PCI function \(address) in \(model.source); `vfioctl inspect` lists them all")
            }
            let database = try loadQuirkDatabase(base: source.quirkBase(snapshot: snapshot))
            let evaluation = QuirkEvaluation(database: database, model: model)
            let matches = evaluation.matches[device.address] ?? []
            if output.json {
                let entries = matches.map { match -> JSON in
                    guard case .object(var members) = QuirkJSON.entry(match.quirk) else { return .null }
                    members.append(("dependsOnGuest", .bool(match.dependsOnGuest)))
                    return .object(members)
                }
                print(JSON.array(entries).rendered(), terminator: "")
                return
            }
            if matches.isEmpty { print("no quirk matches \(address) [\(device.ids)]") }
            for match in matches {
                print(
                    QuirkJSON.text(match.quirk)
                        + (match.dependsOnGuest ? "  applies only to guests matching the guest criteria\n" : ""))
            }
        }
    }

    struct QuirksCheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Validate the quirk files of a directory (default: the built-in database).")
        @Argument(help: "Directory of *.toml quirk files.") var directory: String?

        func run() async throws {
            let bundled = try QuirkDatabase.bundled()
            guard let directory else {
                print("built-in database: \(bundled.quirks.count) quirks, valid")
                return
            }
            let root = RootedFileSystem(root: FilePath(directory))
            guard try root.list(".") != nil else { throw CLIError("\(directory) is not a directory") }
            let local = try QuirkDatabase.parse(
                try readQuirkFiles(in: root, displayPrefix: directory.hasSuffix("/") ? directory : directory + "/"))
            let replaced = local.quirks.filter { bundled.quirk(id: $0.id) != nil }.map(\.id)
            print(
                "\(directory): \(local.quirks.count) quirks, valid"
                    + (replaced.isEmpty ? "" : "; replaces built-in \(replaced.joined(separator: ", "))"))
        }
    }
}
