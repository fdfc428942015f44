import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// The `vfioctl` command: device assignment for KVM hosts under libvirt.
public struct VFIOCtl: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "vfioctl",
        abstract: "Tell which PCI devices can be given to a VM safely, and why.",
        discussion: reflow(
            """
            vfioctl reads a host (live, a --root tree, a snapshot, or an lspci dump), models its
            PCI topology, IOMMU groups and ACS capabilities, and explains for every device whether
            it can be assigned to a guest.

            Examples:
              vfioctl inspect                        # this host
              vfioctl inspect --tree 0000:03:00.0    # one device, with its upstream path
              vfioctl inspect --snapshot host.tar.gz --json
              lspci -nnvvvxxxx > dump.txt; vfioctl inspect --lspci-dump dump.txt
              vfioctl snapshot create -o host.tar.gz # attach this to a bug report
              vfioctl quirks match 0000:03:00.0      # known problems of one device
              vfioctl diff before.tar.gz live        # what changed after an update
              vfioctl xml group:14 > hostdevs.xml    # libvirt <hostdev> of a group
              vfioctl inspect --format prom          # Prometheus metrics (nfd: NFD labels)
              vfioctl report snapshots/              # many hosts, per board and model
            """),
        version: version,
        subcommands: [
            Inspect.self, SnapshotCommand.self, QuirksCommand.self, IOMMUCommand.self, HugepagesCommand.self,
            DMACheck.self,
            HookCommand.self, Bind.self, Restore.self, Recover.self, SRIOVCommand.self, ResetMethodCommand.self,
            Apply.self,
            AERCommand.self,
            EarlyBind.self,
            Advise.self,
            Diff.self,
            Report.self,
            XMLCommand.self,
            KubeVirtCommand.self,
        ]
    )

    public init() {}

    /// Parses and runs `arguments` (without the program name), exiting with the right status:
    /// for programs that wrap the command line (the test harness's fault runner).
    public static func run(arguments: [String]) async {
        signal(SIGXFSZ, SIG_IGN)
        await main(arguments)
    }

    /// Entry point for the `vfioctl` executable: parse, run, exit with the right status.
    public static func runFromCommandLine() async {
        // Over RLIMIT_FSIZE a write must fail with EFBIG (and the action refuse), not kill us.
        signal(SIGXFSZ, SIG_IGN)
        await main()
    }
}
