import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension VFIOCtl {
    /// `vfioctl snapshot create`: a `.tar.gz` of exactly the files the analyses read.
    struct SnapshotCreate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Write a snapshot (.tar.gz) of this host, a --root tree, or an lspci dump.",
            discussion: reflow(
                """
                The snapshot holds the sysfs and procfs files that `vfioctl inspect` reads (config
                space, driver and IOMMU group links, the kernel command line, …) and nothing else.
                Run as root to capture full config space; without root only 64 bytes are readable.

                Examples:
                  sudo vfioctl snapshot create -o myhost.tar.gz
                  vfioctl snapshot create --from-lspci-dump dump.txt -o dump.tar.gz
                  vfioctl inspect --snapshot myhost.tar.gz
                """))

        @Option(name: [.short, .long], help: ArgumentHelp("Where to write the snapshot.", valueName: "file"))
        var output: String = "vfioctl-snapshot.tar.gz"

        @Option(
            name: .long,
            help: ArgumentHelp("Capture this tree (holding sys/ and proc/) instead of the live host.", valueName: "dir")
        )
        var root: String?

        @Option(
            name: .customLong("from-lspci-dump"),
            help: ArgumentHelp("Build the snapshot from lspci -xxx output.", valueName: "file"))
        var lspciDump: String?

        @Flag(name: .long, help: "Write an unpacked directory instead of a .tar.gz.")
        var directory = false

        func validate() throws {
            if root != nil && lspciDump != nil {
                throw ValidationError("give at most one of --root and --from-lspci-dump")
            }
        }

        func run() async throws {
            let staging = try TemporaryDirectory.make(prefix: "vfioctl-capture")
            defer { FileTree.removeTree(staging) }
            let tool = "vfioctl \(VFIOCtl.version)"
            let count: Int
            var skipped: [String] = []
            if let lspciDump {
                let model = try LspciDumpReader(path: lspciDump, keepConfigBytes: true).read()
                try SysfsTreeWriter(base: staging).write(model)
                try Snapshot.writeManifest(
                    in: staging, tool: tool, origin: "lspci dump \(lspciDump)", devices: model.devices.count)
                count = model.devices.count
            } else {
                let roots = root.map { HostRoots(base: FilePath($0)) } ?? .live
                let progress = ProgressLine(json: false)
                progress.update("capturing \(root.map { "root \($0)" } ?? "this host")'s PCI functions…")
                defer { progress.finish() }
                let captured = try Snapshot.capture(from: roots, into: staging, tool: tool)
                count = captured.model.devices.count
                skipped = captured.skipped
            }
            if directory {
                guard rename(staging.string, output) == 0 else {
                    throw CLIError(
                        "cannot move the snapshot to \(output): \(Errno(rawValue: errno)) (it must not exist yet)")
                }
            } else {
                let progress = ProgressLine(json: false)
                progress.update("writing \(output)…")
                defer { progress.finish() }
                try Snapshot.archive(staging, to: output)
            }
            for problem in skipped { StandardError.write("vfioctl: not captured: \(problem)\n") }
            print("wrote \(output): \(count) PCI functions")
        }
    }
}
