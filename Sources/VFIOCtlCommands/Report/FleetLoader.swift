import Analysis
import Fleet
import HostAccess
import PCIModel

/// Reads every snapshot of a `ReportDirectory` as `vfioctl diff` reads one operand
/// (`EvaluatedOperand`: the same safe unpacking and the snapshot's own quirks), one at a
/// time, removing each unpacked copy as soon as it is read. A snapshot that cannot be read
/// is a failure naming the file; the others are still read.
enum FleetLoader {
    struct Failure {
        var file: String
        var message: String
    }

    struct Loaded {
        var hosts: [FleetHost] = []
        /// Host name → file name.
        var files: [String: String] = [:]
        var failures: [Failure] = []
    }

    static func load(_ listing: ReportDirectory, progress: ProgressLine) -> Loaded {
        var named: [(name: String, file: String, evaluated: EvaluatedOperand)] = []
        var loaded = Loaded()
        for (index, file) in listing.snapshots.enumerated() {
            progress.update("reading snapshot \(index + 1)/\(listing.snapshots.count): \(file.terminalSafe)")
            do {
                let evaluated = try EvaluatedOperand(DiffOperand("snapshot:" + listing.path(of: file)))
                evaluated.snapshot?.removeNow()
                let name = evaluated.report.model.facts.hostname ?? ReportDirectory.hostName(file: file)
                named.append((name, file, evaluated))
            } catch {
                loaded.failures.append(Failure(file: file, message: "\(error)"))
            }
        }
        progress.finish()
        // Two snapshots of one hostname (taken twice, or a cloned image) stay apart by file.
        let counts = Dictionary(grouping: named, by: \.name).mapValues(\.count)
        for entry in named {
            let name = counts[entry.name, default: 0] > 1 ? "\(entry.name) (\(entry.file))" : entry.name
            loaded.hosts.append(FleetHost(name: name, report: entry.evaluated.report, quirks: entry.evaluated.quirks))
            loaded.files[name] = entry.file
        }
        return loaded
    }
}
