import ArgumentParser
import Fleet
import HostAccess
import PCIModel

extension VFIOCtl {
    /// `vfioctl report DIR`: the fleet view over many hosts' snapshots.
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare many hosts' snapshots: per board and device model, where the hosts differ.",
            discussion: reflow(
                """
                DIR holds one snapshot per host (*.tar.gz, as `vfioctl snapshot create`
                writes them; what configuration management collects). Hosts are grouped by
                board (DMI board vendor/name/product when the snapshot records it, else the
                chipset's root-bus bridge ids), and for every device model (vendor:device
                and subsystem) on a board the report says which hosts have it and where
                they differ: the group layout (by shape: alone, or which ids share it, never
                group numbers), ACS capability and control on the function and the bridges
                above it, quirks that match on some hosts only, and the verdict with its
                reasons. Group differences are explained as `vfioctl diff` explains them,
                against the first host of the most common layout.

                A host is named by the snapshot's recorded hostname, else the file name;
                snapshots of one hostname are told apart by file, so every snapshot is
                reported under a name of its own. *.TGZ and *.TAR.GZ count too.
                Symbolic links, FIFOs and other special files in DIR are skipped with a
                note, never opened. Each snapshot uses its own quirks
                (etc/vfioctl/quirks.d inside it).

                Exit status: 0 every snapshot was read; 1 some could not be (each is named,
                the rest is reported); 2 nothing to report (DIR missing, not a directory,
                no snapshots in it, none readable).

                Examples:
                  vfioctl report /srv/snapshots
                  vfioctl report /srv/snapshots --format html > fleet.html
                  vfioctl report /srv/snapshots --json | jq '.models[] | select(.differs)'
                """))

        @Argument(help: ArgumentHelp("The directory of snapshots (*.tar.gz), one per host.", valueName: "DIR"))
        var directory: String

        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: ArgumentHelp("Output format: text, json or html.", valueName: "format"))
        var format: ReportFormat?

        var chosenFormat: ReportFormat { format ?? (output.json ? .json : .text) }

        func validate() throws {
            if let format, output.json, format != .json {
                throw ValidationError("--format \(format.rawValue) conflicts with --json; drop one of them")
            }
        }

        func run() async throws {
            let listing: ReportDirectory
            do {
                listing = try ReportDirectory(directory)
            } catch {
                FileHandleOutput.standardError("Error: \(error)")
                throw ExitCode(2)
            }
            for skipped in listing.skipped {
                FileHandleOutput.standardError("Note: skipped \(listing.path(of: skipped.file)): \(skipped.reason)")
            }
            if listing.ignored > 0, !listing.snapshots.isEmpty {
                FileHandleOutput.standardError(
                    "Note: ignored \(listing.ignored) entr\(listing.ignored == 1 ? "y" : "ies") of \(directory) that "
                        + "\(listing.ignored == 1 ? "is" : "are") not *.tar.gz or *.tgz")
            }
            guard !listing.snapshots.isEmpty else {
                FileHandleOutput.standardError(
                    "Error: \(directory) holds no snapshots (*.tar.gz)"
                        + (listing.ignored > 0 ? "; \(listing.ignored) other entries were ignored" : "")
                        + "; write one per host with `vfioctl snapshot create -o HOST.tar.gz`")
                throw ExitCode(2)
            }
            let loaded = FleetLoader.load(listing, progress: ProgressLine(json: chosenFormat == .json))
            for failure in loaded.failures {
                FileHandleOutput.standardError("Error: \(listing.path(of: failure.file)): \(failure.message)")
            }
            let unreadable = listing.skipped.filter(\.unreadable).map(\.file) + loaded.failures.map(\.file)
            guard !loaded.hosts.isEmpty else {
                FileHandleOutput.standardError(
                    "Error: none of the \(listing.snapshots.count) snapshot\(listing.snapshots.count == 1 ? "" : "s") "
                        + "in \(directory) could be read")
                throw ExitCode(2)
            }
            let report = FleetReport(hosts: loaded.hosts)
            let context = ReportContext(directory: directory, failures: loaded.failures, skipped: listing.skipped)
            switch chosenFormat {
            case .text: print(ReportText.render(report, context), terminator: "")
            case .json: print(ReportJSON.render(report, context).rendered(), terminator: "")
            case .html: print(ReportHTML(report: report, context: context).render(), terminator: "")
            }
            if !unreadable.isEmpty {
                let total = listing.snapshots.count + listing.skipped.filter(\.unreadable).count
                FileHandleOutput.standardError(
                    "\(unreadable.count) of \(total) snapshot\(total == 1 ? "" : "s") could not be read: "
                        + unreadable.map(\.description).joined(separator: ", "))
                throw ExitCode(1)
            }
        }
    }
}

/// `vfioctl report --format`.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, html
}

/// What the report says besides the comparison: where the hosts came from and what failed.
struct ReportContext {
    var directory: String
    var failures: [FleetLoader.Failure]
    var skipped: [ReportDirectory.Skipped]
}
