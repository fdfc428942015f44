import Actions
import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

extension VFIOCtl {
    /// `vfioctl hugepages status|reserve|release`.
    struct HugepagesCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hugepages",
            abstract: "Show and size the hugepage pools guests need for large IOMMU mappings.",
            subcommands: [HugepagesStatus.self, HugepagesReserve.self, HugepagesRelease.self])
    }

    struct PoolChoice: ParsableArguments {
        @Option(help: "Page size.") var size: HugepageSizeChoice
        @Option(help: "Pages.") var count: Int
        @Option(help: ArgumentHelp("NUMA node: a number, or auto (the node of --device).", valueName: "node"))
        var node: NUMANodeChoice?
        @Option(help: ArgumentHelp("The device whose NUMA node `--node auto` uses.", valueName: "address"))
        var device: PCIAddress?

        func validate() throws {
            guard count >= 0 else { throw ValidationError("--count must not be negative") }
            if node == .auto && device == nil { throw ValidationError("--node auto needs --device ADDRESS") }
        }

        /// The pool meant: host-wide, a given node, or the device's node.
        func pool(roots: HostRoots) throws -> HugepagePool {
            let kib = size.kib
            var number: Int?
            if case .number(let given) = node { number = given }
            if node == .auto, let device {
                do {
                    number = try SysfsHostReader(roots: roots).numaNode(of: device)
                } catch {
                    if error.code == .notFound { throw CLIError("no PCI function \(device) on this host") }
                    throw error
                }
                if number == nil {
                    StandardError.write(
                        "vfioctl: \(device) has no NUMA node (numa_node -1); using the host-wide pool\n")
                }
            }
            return HugepagePool(sizeKiB: kib, node: number, total: 0, free: 0)
        }
    }

    struct HugepagesStatus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Every hugepage pool with its total and free pages.")
        @OptionGroup var target: ActionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let pools = try Hugepages(roots: target.roots).pools()
            if output.json {
                print(JSON.array(pools.map(poolJSON)).rendered(), terminator: "")
                return
            }
            if pools.isEmpty { print("no hugepage pools (kernel without hugetlbfs?)") }
            for pool in pools {
                print(
                    "\((pool.node.map { "node \($0)" } ?? "host").padded(8)) \(describe(pool.sizeKiB).padded(4)) total \(pool.total) free \(pool.free)"
                )
            }
        }
    }

    struct HugepagesReserve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reserve",
            abstract: "Grow a pool to COUNT pages (compacting memory first); report what the kernel gave.",
            discussion: reflow(
                """
                Examples:
                  vfioctl hugepages reserve --size 1G --count 16 --device 0000:03:00.0
                  vfioctl hugepages reserve --size 2M --count 4096 --dry-run
                """))
        @OptionGroup var target: ActionOptions
        @OptionGroup var choice: PoolChoice
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try resizeAndReport(target: target, choice: choice, output: output) { current in
                max(current.total, choice.count)
            }
        }
    }

    struct HugepagesRelease: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release", abstract: "Shrink a pool by COUNT pages.")
        @OptionGroup var target: ActionOptions
        @OptionGroup var choice: PoolChoice
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try resizeAndReport(target: target, choice: choice, output: output) { current in
                max(0, current.total - choice.count)
            }
        }
    }
}

private func describe(_ kib: Int) -> String { kib >= 1_048_576 ? "\(kib / 1_048_576)G" : "\(kib / 1024)M" }

private func poolJSON(_ pool: HugepagePool) -> JSON {
    .object([
        ("size", .string(describe(pool.sizeKiB))), ("node", .optional(pool.node)), ("total", .int(pool.total)),
        ("free", .int(pool.free)),
    ])
}

/// Reads the pool, computes the new size, writes it (or prints the writes), re-reads and
/// says whether the kernel gave what was asked.
private func resizeAndReport(
    target: ActionOptions, choice: VFIOCtl.PoolChoice, output: OutputOptions, newTotal: (HugepagePool) -> Int
) throws {
    let dryRun = target.dryRun
    let hugepages = Hugepages(roots: target.roots)
    let pool = try hugepages.read(choice.pool(roots: target.roots))
    let wanted = newTotal(pool)
    let session = try target.session(
        "hugepages \(pool.sizeKiB) KiB \(pool.node.map { "node \($0)" } ?? "host") to \(wanted)")
    let writer = session.writer
    let progress = ProgressLine(json: output.json || dryRun)
    if wanted > pool.total {
        progress.update("compacting memory and reserving \(wanted - pool.total) more \(pool.sizeKiB) KiB pages…")
    }
    defer { progress.finish() }
    let after = try session.run { session in try session.resizeHugepages(pool, to: wanted) }
    let place = pool.node.map { "node \($0)" } ?? "the host"
    if output.json {
        print(
            JSON.object([
                ("pool", poolJSON(after)), ("requested", .int(wanted)), ("before", .int(pool.total)),
                ("got", .int(after.total)),
                ("dryRun", .bool(dryRun)), ("writes", .array(writer.writes.map { .string($0.description) })),
            ]).rendered(), terminator: "")
        if !dryRun && after.total != wanted { throw ExitCode(3) }
        return
    }
    if dryRun {
        for write in writer.writes { print(write.description) }
        return
    }
    if wanted == pool.total {
        print("\(describe(pool.sizeKiB)) pool on \(place) already holds \(pool.total) pages; nothing to do")
    } else if after.total == wanted {
        print("\(describe(pool.sizeKiB)) pool on \(place): \(pool.total) → \(after.total) pages (\(after.free) free)")
    } else {
        print(
            "\(describe(pool.sizeKiB)) pool on \(place): asked for \(wanted), the kernel gave \(after.total) (from \(pool.total)): memory is short or fragmented; free memory and retry, or reserve at boot (hugepagesz=\(describe(pool.sizeKiB)) hugepages=\(wanted))"
        )
        throw ExitCode(3)
    }
}
