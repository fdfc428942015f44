import ArgumentParser

extension VFIOCtl {
    /// `vfioctl snapshot …`
    struct SnapshotCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Capture what vfioctl reads from a host, to replay it elsewhere.",
            subcommands: [SnapshotCreate.self]
        )
    }
}
