import Analysis
import Fleet
import PCIModel

/// `vfioctl report --format html`: one self-contained page in the style of `inspect
/// --format html` (its style sheet and escaping, `HTMLPage`): the hosts, then per board the
/// models whose hosts differ, open, each aspect as a table of variants, and the models
/// every host agrees on, collapsed. Every string from a snapshot goes through `HTMLPage.escaped`.
struct ReportHTML {
    let report: FleetReport
    let context: ReportContext

    private func e(_ text: String) -> String { HTMLPage.escaped(text) }

    private func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    /// Items as an escaped `<ul>`; nothing when there are none.
    private func list(_ items: [String]) -> String {
        items.isEmpty ? "" : "<ul>" + items.map { "<li>\(e($0))</li>" }.joined() + "</ul>"
    }

    func render() -> String {
        var out: [String] = []
        out.append("<!DOCTYPE html>")
        out.append("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        out.append("<title>vfioctl report: \(e(context.directory))</title>")
        out.append("<style>\(HTMLPage.css)\npre{margin:0;font-family:monospace}</style></head><body>")
        out.append("<h1>vfioctl report</h1>")
        out.append(
            "<p>vfioctl \(e(VFIOCtl.version)): \(e(context.directory)), \(count(report.hosts.count, "host")), \(count(report.boards.count, "board")); \(report.differing.count) of \(count(report.entries.count, "device model")) differ between hosts.</p>"
        )
        if !context.failures.isEmpty || !context.skipped.isEmpty {
            out.append("<h2>Not read</h2><ul>")
            for failure in context.failures {
                out.append("<li class=\"c-fail\">\(e(failure.file.description)): \(e(failure.message))</li>")
            }
            for skipped in context.skipped {
                out.append("<li class=\"c-warn\">\(e(skipped.file.description)): skipped, \(e(skipped.reason))</li>")
            }
            out.append("</ul>")
        }
        out.append("<h2>Hosts</h2>")
        out.append(
            "<table><tr><th>host</th><th>file</th><th>board</th><th>kernel</th><th>functions</th><th>groups</th></tr>")
        for host in report.hosts {
            out.append(
                "<tr><td>\(e(host.name))</td><td>\(e(host.file ?? ""))</td><td>\(e(host.board.description))</td><td>\(e(host.kernelRelease ?? "unknown"))</td><td>\(host.functions)</td><td>\(host.basis.rawValue)</td></tr>"
            )
        }
        out.append("</table>")
        for (board, hosts) in report.boards {
            out.append("<h2>Board \(e(board.description))</h2>")
            out.append("<p>Hosts: \(e(hosts.joined(separator: ", ")))</p>")
            let entries = report.entries.filter { $0.board == board }
            for entry in entries where entry.differs { out += self.entry(entry) }
            let same = entries.filter { !$0.differs }
            if !same.isEmpty {
                out.append(
                    "<details class=\"group v-assignable\"><summary>Same on every host (\(count(same.count, "model")))</summary><ul>"
                )
                for entry in same {
                    out.append(
                        "<li><span class=\"addr\">\(e(entry.model.description))</span> \(e(entry.name ?? ""))</li>")
                }
                out.append("</ul></details>")
            }
        }
        out.append("</body></html>")
        return out.joined(separator: "\n") + "\n"
    }

    private func entry(_ entry: FleetModelEntry) -> [String] {
        var out = [
            "<details class=\"group v-caveats\" open><summary><span class=\"addr\">\(e(entry.model.description))</span> \(e(entry.name ?? "")): differs</summary>"
        ]
        let on = entry.hosts.map { "\($0.name) (\($0.functions.map(\.description).joined(separator: " ")))" }
        out.append("<p>On: \(e(on.joined(separator: ", ")))</p>")
        if !entry.missingOn.isEmpty {
            out.append("<p class=\"note\">Missing on: \(e(entry.missingOn.joined(separator: ", ")))</p>")
        }
        out.append("<table><tr><th>aspect</th><th>hosts</th><th>value</th><th>why</th></tr>")
        for comparison in entry.comparisons {
            let rowClass = comparison.differs ? " class=\"c-warn\"" : ""
            for (index, variant) in comparison.variants.enumerated() {
                let aspect = index == 0 ? e(comparison.aspect.title) + (comparison.differs ? " (differs)" : "") : ""
                out.append(
                    "<tr\(rowClass)><td>\(aspect)</td><td>\(e(variant.hosts.joined(separator: ", ")))</td><td><pre>\(e(variant.lines.joined(separator: "\n")))</pre></td><td>\(list(variant.detail))</td></tr>"
                )
            }
        }
        out.append("</table>")
        if !entry.explanations.isEmpty {
            out.append("<ul>")
            for explanation in entry.explanations {
                for reason in explanation.reasons {
                    out.append(
                        "<li>because (A = \(e(explanation.reference)), B = \(e(explanation.host))): \(e(reason.message))</li>"
                    )
                }
            }
            out.append("</ul>")
        }
        out.append("</details>")
        return out
    }
}
