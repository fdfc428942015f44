import Analysis
import PCIModel
import QuirkDB

/// The report of `vfioctl inspect --format html`: one self-contained page (inline CSS, the
/// picture as inline SVG, no script, nothing fetched) with the groups and their verdicts,
/// every reason per function, the host checks and the matched quirks.
///
/// Readable at hundreds of functions: groups whose every function is plainly assignable
/// (verdict assignable, no reason above information) are collapsed in `<details>`, and the
/// VFs of one PF that sit in groups of their own are listed in one collapsed block.
/// Every string from the host goes through `HTMLPage.escaped`.
struct InspectHTML {
    let report: InspectReport
    let quirks: QuirkEvaluation
    /// The `<svg>` element to show, or nil when Graphviz is missing (a note says so).
    let svg: String?

    func render() -> String {
        let model = report.model
        var out: [String] = []
        out.append("<!DOCTYPE html>")
        out.append("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        out.append("<title>vfioctl inspect: \(Self.escaped(model.source))</title>")
        out.append("<style>\(HTMLPage.css)</style></head><body>")
        out.append("<h1>vfioctl inspect</h1>")
        out.append(
            "<p>vfioctl \(Self.escaped(VFIOCtl.version)): \(Self.escaped(model.source)), \(model.devices.count) PCI functions. \(Self.escaped(quirks.kernel.summary)).</p>"
        )
        out.append("<p class=\"legend\">")
        for verdict in Verdict.allCases {
            out.append("<span class=\"v-\(verdict.rawValue)\">\(verdict.rawValue)</span>")
        }
        out.append("</p>")
        out.append("<h2>Picture</h2>")
        if let svg {
            out.append("<div class=\"picture\">\(svg)</div>")
        } else {
            out.append(
                "<p class=\"note\">The picture needs Graphviz: install graphviz (apt-get install graphviz) and run this again.</p>"
            )
        }
        out.append(contentsOf: hostSection())
        out.append(contentsOf: groupSection())
        out.append(contentsOf: quirkSection())
        if !report.disagreements.isEmpty {
            out.append("<h2>Kernel and predicted groups disagree</h2><ul>")
            for d in report.disagreements {
                out.append(
                    "<li>group \(d.kernelGroup): kernel {\(d.kernelMembers.map(\.description).joined(separator: ", "))}, predicted {\(d.predictedMembers.map(\.description).joined(separator: ", "))}</li>"
                )
            }
            out.append("</ul>")
        }
        if !model.anomalies.isEmpty {
            out.append("<h2>Problems reading the source</h2><ul>")
            for anomaly in model.anomalies { out.append("<li>\(Self.escaped(anomaly))</li>") }
            out.append("</ul>")
        }
        out.append("</body></html>")
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: - Sections

    private func hostSection() -> [String] {
        var out = ["<h2>Host</h2>", "<table><tr><th>status</th><th>check</th><th>message</th></tr>"]
        for check in report.hostChecks {
            out.append(
                "<tr class=\"c-\(check.status.rawValue)\"><td>\(check.status.rawValue.uppercased())</td><td>\(check.code.rawValue)</td><td>\(Self.escaped(check.message))</td></tr>"
            )
        }
        out.append("</table>")
        let dependencies = report.model.facts.hostDependencies
        if !dependencies.isEmpty {
            out.append("<p>The host depends on:</p><ul>")
            for dependency in dependencies {
                out.append(
                    "<li>\(dependency.address): \(dependency.kind.rawValue) (\(Self.escaped(dependency.detail)))</li>")
            }
            out.append("</ul>")
        }
        return out
    }

    private func groupSection() -> [String] {
        let model = report.model
        let graph = DotGraph(report: report, quirks: quirks)
        let clusters = graph.clusters()
        var out = ["<h2>Groups</h2>"]
        if model.kernelGroups == nil {
            out.append("<p>The source has no kernel IOMMU groups: these are the predicted ones.</p>")
        }
        var grouped = Set<PCIAddress>()
        for cluster in clusters {
            grouped.formUnion(cluster.members)
            let verdict = graph.groupVerdict(cluster.members)
            let devices = cluster.members.compactMap { model[$0] }
            let plain =
                verdict == .assignable
                && devices.allSatisfy { device in
                    (report.assessment(of: device.address)?.reasons ?? []).allSatisfy { $0.severity == .assignable }
                }
            let title: String
            if cluster.ids.count == 1 {
                title = "\(cluster.kind) \(cluster.ids[0])"
            } else {
                let pf = devices.first?.physicalFunction.map(\.description) ?? "?"
                title = "VFs of \(pf): \(cluster.kind)s \(cluster.ids.map(String.init).joined(separator: ", "))"
            }
            // Open only what needs reading: not plainly assignable, not bridges alone, not per-VF groups.
            let open = plain || verdict == nil || cluster.ids.count > 1 ? "" : " open"
            let verdictName = verdict?.rawValue ?? "host"
            let shown = verdict?.rawValue ?? "bridges only, they stay with the host"
            out.append(
                "<details class=\"group v-\(verdictName)\"\(open)><summary>\(title): <b>\(shown)</b> (\(devices.count) function\(devices.count == 1 ? "" : "s"))</summary>"
            )
            out.append(contentsOf: table(devices))
            out.append("</details>")
        }
        let rest = model.devices.filter { !grouped.contains($0.address) }
        if !rest.isEmpty {
            out.append("<details class=\"group\" open><summary>In no group (\(rest.count))</summary>")
            out.append(contentsOf: table(rest))
            out.append("</details>")
        }
        return out
    }

    /// One row per function: address, ids, driver, name, verdict, every reason and quirk.
    private func table(_ devices: [PCIDevice]) -> [String] {
        var out = [
            "<table><tr><th>function</th><th>ids</th><th>driver</th><th>name</th><th>verdict</th><th>reasons</th></tr>"
        ]
        for device in devices {
            let assessment = report.assessment(of: device.address)
            let verdict = assessment?.verdict.rawValue ?? "unknown"
            let kind = device.isBridge ? " <i>(\(device.portType?.jsonName ?? "pci-bridge"))</i>" : ""
            var reasons: [String] = []
            for reason in assessment?.reasons ?? [] {
                reasons.append(
                    "<li class=\"v-\(reason.severity.rawValue)\">\(reason.code.rawValue): \(Self.escaped(reason.message))</li>"
                )
            }
            let reasonList = reasons.isEmpty ? "" : "<ul>\(reasons.joined())</ul>"
            out.append(
                "<tr id=\"f-\(device.address)\" class=\"v-\(verdict)\"><td class=\"addr\">\(device.address)</td><td>\(device.ids)</td><td>\(Self.escaped(device.driver ?? "no driver"))</td><td>\(Self.escaped(device.name ?? ""))\(kind)</td><td class=\"verdict\">\(verdict)</td><td>\(reasonList)</td></tr>"
            )
        }
        out.append("</table>")
        return out
    }

    private func quirkSection() -> [String] {
        var out = ["<h2>Quirks</h2>"]
        let matched = report.model.devices.compactMap { device in
            quirks.matches[device.address].map { (device.address, $0) }
        }.filter { !$0.1.isEmpty }
        if matched.isEmpty {
            out.append("<p>No quirk of the database matches a function of this host.</p>")
            return out
        }
        out.append("<table><tr><th>function</th><th>quirk</th><th>effect</th><th>what</th></tr>")
        for (address, matches) in matched {
            for match in matches {
                var text = Self.escaped(match.quirk.title)
                if match.dependsOnGuest { text += " [when the guest matches]" }
                if let advice = match.quirk.advice { text += ". " + Self.escaped(advice) }
                out.append(
                    "<tr><td class=\"addr\">\(address)</td><td>\(Self.escaped(match.quirk.id))</td><td>\(Self.escaped(match.quirk.effect.name))</td><td>\(text)</td></tr>"
                )
            }
        }
        out.append("</table>")
        return out
    }

    /// `HTMLPage.escaped`, short for the many uses here.
    static func escaped(_ text: String) -> String { HTMLPage.escaped(text) }
}
