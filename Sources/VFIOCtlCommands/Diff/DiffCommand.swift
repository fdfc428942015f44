import Analysis
import ArgumentParser
import HostAccess
import PCIModel
import QuirkDB

#if canImport(Glibc)
    import Glibc
#endif

extension VFIOCtl {
    /// `vfioctl diff A B`: what changed between two hosts, or one host under two kernels.
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what changed between two hosts or two kernels: functions, IOMMU groups, and why.",
            discussion: reflow(
                """
                Each operand is `live` (this host, read only), a snapshot (.tar.gz or
                directory from `vfioctl snapshot create`), an lspci dump (`lspci -xxx`
                text) or a root directory holding sys/ and proc/. The kind is detected;
                a `snapshot:`, `lspci:` or `root:` prefix says it instead. Each side uses
                its own quirks (etc/vfioctl/quirks.d of a root or snapshot; this host's
                for live and lspci dumps).

                Groups are matched by their members, never by number: a group of A is
                split, merged or changed, with the reason when config space tells it (an
                isolation quirk on one side only, an ACS control word, a bridge,
                multifunction) and the kernels. The kernel's groups are compared when
                both sides have them, else the predicted ones.

                Exit status: 0 the groups are the same, 1 they differ, 2 trouble (an
                operand that cannot be read).

                Examples:
                  vfioctl snapshot create -o before.tar.gz   # before the kernel/BIOS update
                  vfioctl diff before.tar.gz live            # after it
                  vfioctl diff host-6.1.tar.gz host-6.12.tar.gz --json | jq '.groupChanges'
                  vfioctl diff lspci:old-dump.txt root:/srv/trees/new
                """))

        @Argument(help: ArgumentHelp("The host before (live, a snapshot, an lspci dump or a root).", valueName: "A"))
        var a: String

        @Argument(help: ArgumentHelp("The host after.", valueName: "B"))
        var b: String

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let diff: HostDiff
            let sides: (HostModel, HostModel)
            var opened: [OpenedSnapshot] = []
            do {
                let sideA = try Self.side(a, label: "A", opened: &opened)
                let sideB = try Self.side(b, label: "B", opened: &opened)
                diff = HostDiff(a: sideA, b: sideB)
                sides = (sideA.report.model, sideB.report.model)
            } catch {
                FileHandleOutput.standardError("Error: \(error)")
                throw ExitCode(2)
            }
            if output.json {
                print(DiffJSON.render(diff, a: (a, sides.0), b: (b, sides.1)).rendered(), terminator: "")
            } else {
                print(DiffText.render(diff, a: (a, sides.0), b: (b, sides.1)), terminator: "")
            }
            for snapshot in opened { snapshot.removeNow() }
            if diff.groupsDiffer { throw ExitCode(1) }
        }

        /// Reads one operand and evaluates it with its own quirk database.
        static func side(_ text: String, label: String, opened: inout [OpenedSnapshot]) throws -> HostDiffSide {
            do {
                let evaluated = try EvaluatedOperand(DiffOperand(text))
                if let snapshot = evaluated.snapshot { opened.append(snapshot) }
                return HostDiffSide(report: evaluated.report, policy: evaluated.quirks.policy)
            } catch let problem as DiffOperand.Problem {
                throw DiffOperand.Problem(description: "\(label): \(problem.description)")
            } catch {
                throw DiffOperand.Problem(description: "\(label) (\(text)): \(error)")
            }
        }
    }
}

/// Diagnostics to stderr.
enum FileHandleOutput {
    static func standardError(_ line: String) {
        let bytes = Array((line.terminalSafe + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
