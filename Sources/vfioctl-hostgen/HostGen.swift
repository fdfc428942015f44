import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

/// `vfioctl-hostgen`: writes host trees for demos, tests and benchmarks. It writes only
/// below the output directory it is given, never to a live /sys.
@main
struct HostGen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vfioctl-hostgen",
        abstract: "Generate host trees (sys/ and proc/) for vfioctl's demo, tests and benchmarks.",
        discussion: """
            Examples:
              vfioctl-hostgen seed --dumps Tests/Fixtures/pciutils -o out/seed-host
              vfioctl-hostgen synthetic --functions 4096 -o out/synthetic
            """,
        subcommands: [Seed.self, Synthetic.self]
    )
}

struct OutputDirectory: ParsableArguments {
    @Option(name: [.short, .long], help: "Directory to create; it must not exist.")
    var output: String

    func prepare() throws -> FilePath {
        let path = FilePath(output)
        if (try? RootedFileSystem(root: "/").list(path.string)) != nil {
            throw ValidationError("\(output) exists; give a new directory")
        }
        return path
    }
}
