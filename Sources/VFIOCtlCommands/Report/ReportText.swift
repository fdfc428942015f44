import Analysis
import Fleet
import PCIModel

/// `vfioctl report` as text: the hosts, what could not be read, then per board every model
/// whose hosts differ (hosts agreeing, hosts differing and how, and why from `HostDiff`),
/// and one list of the models every host of the board agrees on.
enum ReportText {
    static func render(_ report: FleetReport, _ context: ReportContext) -> String {
        var lines: [String] = []
        let differing = report.differing.count
        lines += DiffText.wrapped(
            words:
                "Fleet report of \(context.directory): \(report.hosts.count) host\(plural(report.hosts.count)), "
                + "\(report.boards.count) board\(plural(report.boards.count)); \(differing) of "
                + "\(report.entries.count) device model\(plural(report.entries.count)) "
                + "differ\(report.entries.count == 1 ? "s" : "") between hosts.", label: "")
        for failure in context.failures {
            lines += DiffText.wrapped(words: "\(failure.file): \(e(failure.message))", label: "Unreadable: ")
        }
        for skipped in context.skipped {
            lines += DiffText.wrapped(words: "\(skipped.file): \(e(skipped.reason))", label: "Skipped: ")
        }
        lines.append("")
        lines.append("Hosts:")
        for host in report.hosts {
            let file = host.file.map { " [\($0)]" } ?? ""
            lines += DiffText.wrapped(
                words:
                    "\(e(host.name))\(file): kernel \(e(host.kernelRelease ?? "unknown")), \(host.functions) functions, "
                    + "\(host.basis == .kernel ? "kernel" : "predicted") groups", label: "  ")
        }
        for (board, hosts) in report.boards {
            lines.append("")
            lines += DiffText.wrapped(words: "Board \(e(board.description)): \(names(hosts))", label: "")
            let entries = report.entries.filter { $0.board == board }
            let predicted = Set(report.hosts.filter { $0.basis == .predicted }.map(\.name))
            for entry in entries where entry.differs { lines += self.entry(entry, predicted: predicted) }
            let same = entries.filter { !$0.differs }
            if !same.isEmpty {
                lines += DiffText.wrapped(
                    words: same.map(\.model.description).joined(separator: ", "),
                    label:
                        "  Same on \(hosts.count == 1 ? "its one host" : "all \(hosts.count) hosts") (\(same.count)): ")
            }
        }
        return lines.map(\.terminalSafe).joined(separator: "\n") + "\n"
    }

    /// `predicted`: the hosts whose groups are vfioctl's prediction (no kernel groups recorded).
    private static func entry(_ entry: FleetModelEntry, predicted: Set<String>) -> [String] {
        var lines = [""]
        lines += DiffText.wrapped(
            words: "\(entry.model)\(entry.name.map { " \(e($0))" } ?? "") on "
                + entry.hosts.map { "\(e($0.name)) (\($0.functions.map(\.description).joined(separator: " ")))" }
                .joined(separator: ", "),
            label: "  ")
        if !entry.missingOn.isEmpty {
            lines += DiffText.wrapped(words: names(entry.missingOn), label: "    missing on: ")
        }
        for comparison in entry.comparisons {
            if !comparison.differs {
                let value = comparison.variants.first?.lines ?? []
                if value.count == 1 { lines.append("    \(comparison.aspect.title), same on all: \(value[0])") }
                continue
            }
            lines.append("    differs in \(comparison.aspect.title):")
            for variant in comparison.variants {
                lines += DiffText.wrapped(words: names(variant.hosts) + ":", label: "      ")
                for line in variant.lines {
                    let indent = String(repeating: " ", count: 8 + line.prefix { $0 == " " }.count + 2)
                    let wrapped = DiffText.wrapped(words: String(line.drop { $0 == " " }), label: indent)
                    // The first line keeps the value's own indentation; continuations go 2 further.
                    lines.append(String(wrapped[0].dropFirst(2)))
                    lines += wrapped.dropFirst()
                }
                for detail in variant.detail { lines += DiffText.wrapped(words: e(detail), label: "        why: ") }
            }
            let guessed = comparison.variants.flatMap(\.hosts).filter(predicted.contains)
            if comparison.aspect == .groupLayout, !guessed.isEmpty, guessed.count < entry.hosts.count {
                lines += DiffText.wrapped(
                    words: "groups on \(names(guessed)) are predicted (no kernel groups in the snapshot): "
                        + "the difference may be the prediction's", label: "      note: ")
            }
        }
        for explanation in entry.explanations {
            let label = "    because (A = \(e(explanation.reference)), B = \(e(explanation.host))): "
            for reason in explanation.reasons { lines += DiffText.wrapped(words: reason.message, label: label) }
        }
        return lines
    }

    private static func plural(_ count: Int) -> String { count == 1 ? "" : "s" }

    /// Host-provided text, control characters escaped (`ReportEscaping`).
    private static func e(_ text: String) -> String { ReportEscaping.escaped(text) }

    /// Host names, escaped, `, ` between.
    private static func names(_ hosts: [String]) -> String { hosts.map(e).joined(separator: ", ") }
}
