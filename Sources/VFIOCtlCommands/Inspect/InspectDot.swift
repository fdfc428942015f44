import Analysis
import PCIModel
import QuirkDB

/// The PCIe tree of `vfioctl inspect --format dot` as a Graphviz graph: root complexes
/// (`pci0000:00`), bridges and endpoints as nodes, each IOMMU group a `subgraph cluster_gN`
/// filled by the group's verdict, edges below a bridge that fails the kernel's ACS test
/// (`pci_acs_enabled()`, see `ACSPolicy.evaluate`) labelled with why, and SR-IOV VFs folded
/// under their PF as one node ("7 VFs").
///
/// The groups are the kernel's (`/sys/kernel/iommu_groups`) when the source has them, else the
/// predicted ones. When kernel and prediction disagree, a note node lists both memberships.
/// VFs that each sit alone in their own group (a PF behind ACS) fold into one node in one
/// cluster named for every group it stands for (`cluster_g20_g21_g22`), so every group id
/// occurs in exactly one cluster name.
///
/// Every string read from the host (names, drivers, dependency details) goes through
/// `DotGraph.quoted`, which escapes `"` and `\` and replaces control characters.
struct DotGraph {
    let report: InspectReport
    let quirks: QuirkEvaluation

    /// Fill colours by group verdict; bridges-only groups stay with the host.
    static func fill(_ verdict: Verdict?) -> String {
        switch verdict {
        case .assignable?: "#d8f0d8"
        case .caveats?: "#fff0c0"
        case .unknown?: "#dde6f4"
        case .blocked?: "#f6d0d0"
        case nil: "#eeeeee"
        }
    }

    /// One IOMMU group as drawn: its id(s), members and verdict.
    struct Cluster {
        var ids: [Int]
        var members: [PCIAddress]
        var kind: String
    }

    /// The groups the picture shows: the kernel's when the source has them, else predicted.
    var groups: (kind: String, groups: [Int: [PCIAddress]]) {
        if let kernel = report.model.kernelGroups { return ("IOMMU group", kernel) }
        var predicted: [Int: [PCIAddress]] = [:]
        for (id, members) in report.prediction.groups.enumerated() { predicted[id] = members }
        return ("predicted group", predicted)
    }

    /// The clusters, with groups made only of VFs of one PF merged into one cluster per PF.
    func clusters() -> [Cluster] {
        let model = report.model
        let (kind, groups) = self.groups
        var result: [Cluster] = []
        var vfOnly: [PCIAddress: Cluster] = [:]
        for (id, members) in groups.sorted(by: { $0.key < $1.key }) {
            let pfs = Set(members.map { model[$0]?.physicalFunction })
            if pfs.count == 1, let pf = pfs.first ?? nil {
                vfOnly[pf, default: Cluster(ids: [], members: [], kind: kind)].ids.append(id)
                vfOnly[pf]?.members.append(contentsOf: members)
            } else {
                result.append(Cluster(ids: [id], members: members, kind: kind))
            }
        }
        for pf in vfOnly.keys.sorted() { if let cluster = vfOnly[pf] { result.append(cluster) } }
        return result
    }

    /// The whole graph as DOT text.
    func render() -> String {
        let model = report.model
        var lines = [
            "digraph vfioctl {",
            "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=10, label=\(Self.quoted("vfioctl inspect: \(model.source)")), labelloc=t];",
            "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=9];",
            "  edge [fontname=\"Helvetica\", fontsize=8];",
        ]
        // VFs fold into one node per (PF, cluster).
        let clusters = clusters()
        var clusterOf: [PCIAddress: Int] = [:]
        for (index, cluster) in clusters.enumerated() {
            for member in cluster.members { clusterOf[member] = index }
        }
        var placed = Set<String>()
        var body: [Int?: [String]] = [:]
        for device in model.devices {
            let cluster = clusterOf[device.address]
            if let pf = device.physicalFunction {
                let id = Self.vfNodeID(pf: pf, cluster: cluster)
                guard placed.insert(id).inserted else { continue }
                let vfs = model.devices.filter { $0.physicalFunction == pf && clusterOf[$0.address] == cluster }
                body[cluster, default: []].append("    \(id) [label=\(Self.quoted(vfLabel(pf: pf, vfs: vfs)))];")
            } else {
                body[cluster, default: []].append(
                    "    \(Self.nodeID(device.address)) [label=\(Self.quoted(label(device)))\(device.isBridge ? ", fillcolor=\"#f4f4f4\"" : "")];"
                )
            }
        }
        for (index, cluster) in clusters.enumerated() {
            let name = "cluster_" + cluster.ids.map { "g\($0)" }.joined(separator: "_")
            let verdict = groupVerdict(cluster.members)
            let title: String
            if cluster.ids.count == 1 {
                title = "\(cluster.kind) \(cluster.ids[0]): \(verdict?.rawValue ?? "host (bridges only)")"
            } else {
                title =
                    "\(cluster.kind)s \(cluster.ids.map(String.init).joined(separator: ", ")) (one per VF): \(verdict?.rawValue ?? "host")"
            }
            lines.append("  subgraph \(name) {")
            lines.append(
                "    label=\(Self.quoted(title)); style=filled; fillcolor=\"\(Self.fill(verdict))\"; color=\"#888888\";"
            )
            lines.append(contentsOf: body[index] ?? [])
            lines.append("  }")
        }
        lines.append(contentsOf: body[nil] ?? [])
        // Root complexes and edges.
        var roots = Set<String>()
        var edges = Set<String>()
        let policy = quirks.policy
        for device in model.devices {
            let child =
                device.physicalFunction.map { Self.vfNodeID(pf: $0, cluster: clusterOf[device.address]) }
                ?? Self.nodeID(device.address)
            if let pf = device.physicalFunction {
                let edge = "  \(Self.nodeID(pf)) -> \(child) [style=dashed, label=\"SR-IOV\"];"
                if edges.insert(edge).inserted { lines.append(edge) }
                continue
            }
            if let parent = device.parent, let bridge = model[parent] {
                let acs = policy.evaluate(bridge)
                let attributes =
                    acs.enabled
                    ? "" : " [color=\"#b03030\", fontcolor=\"#b03030\", label=\(Self.quoted(acs.rule.explanation))]"
                lines.append("  \(Self.nodeID(parent)) -> \(child)\(attributes);")
            } else {
                let root = "pci\(hex(device.address.domain, width: 4)):\(hex(device.address.bus, width: 2))"
                if roots.insert(root).inserted {
                    lines.append("  \(Self.quoted(root)) [shape=house, fillcolor=\"#e0e0e0\"];")
                }
                lines.append("  \(Self.quoted(root)) -> \(child);")
            }
        }
        if !report.disagreements.isEmpty {
            var note = "kernel and predicted groups disagree:"
            for d in report.disagreements {
                note +=
                    "\ngroup \(d.kernelGroup): kernel {\(d.kernelMembers.map(\.description).joined(separator: ", "))}, predicted {\(d.predictedMembers.map(\.description).joined(separator: ", "))}"
            }
            lines.append("  disagreements [shape=note, fillcolor=\"#fff8e0\", label=\(Self.quoted(note))];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The worst verdict among the endpoints, nil for a group of bridges only.
    func groupVerdict(_ members: [PCIAddress]) -> Verdict? {
        let endpoints = members.filter { report.model[$0]?.isBridge == false }
        return endpoints.isEmpty ? nil : report.verdict(ofGroup: members)
    }

    /// Address, ids and driver, name, verdict and groups, then badges: matched quirk ids,
    /// host dependencies, boot VGA, ACS state of a multifunction endpoint.
    func label(_ device: PCIDevice) -> String {
        var lines = ["\(device.address)  \(device.ids)  \(device.driver ?? "no driver")"]
        if let name = device.name { lines.append(Self.shortened(name, to: 44)) }
        var state =
            device.isBridge
            ? (device.portType?.jsonName ?? "pci-bridge") : (report.verdict(of: device.address)?.rawValue ?? "?")
        if let predicted = report.prediction.group(of: device.address), report.model.kernelGroups != nil,
            report.disagreements.contains(where: { $0.kernelMembers.contains(device.address) })
        {
            state += "  (predicted group \(predicted))"
        }
        lines.append(state)
        if !device.isBridge, device.isMultifunction {
            let acs = quirks.policy.evaluate(device)
            if !acs.enabled { lines.append("multifunction: \(acs.rule.explanation)") }
        }
        for match in quirks.matches[device.address] ?? [] { lines.append("quirk \(match.quirk.id)") }
        for dependency in report.model.facts.hostDependencies where dependency.address == device.address {
            lines.append("host: \(dependency.kind.rawValue) (\(Self.shortened(dependency.detail, to: 40)))")
        }
        if device.isBootVGA { lines.append("boot VGA") }
        return lines.joined(separator: "\n")
    }

    private func vfLabel(pf: PCIAddress, vfs: [PCIDevice]) -> String {
        var lines = ["\(vfs.count) VF\(vfs.count == 1 ? "" : "s") of \(pf)"]
        if let first = vfs.first?.address, let last = vfs.last?.address, vfs.count > 1 {
            lines.append("\(first) … \(last)")
        } else if let only = vfs.first {
            lines.append(only.address.description)
        }
        let drivers = Set(vfs.map { $0.driver ?? "no driver" }).sorted()
        lines.append(Self.shortened(drivers.joined(separator: ", "), to: 44))
        let verdicts = Dictionary(grouping: vfs, by: { report.verdict(of: $0.address) ?? .unknown })
        lines.append(
            verdicts.keys.sorted().map { "\(verdicts[$0]?.count ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        let ids = Set(vfs.flatMap { quirks.matches[$0.address] ?? [] }.map(\.quirk.id)).sorted()
        for id in ids { lines.append("quirk \(id)") }
        return lines.joined(separator: "\n")
    }

    // MARK: - Escaping

    /// A DOT node id for a function: `"d0000:03:00.0"` (addresses hold no quotes).
    static func nodeID(_ address: PCIAddress) -> String { "\"d\(address)\"" }

    static func vfNodeID(pf: PCIAddress, cluster: Int?) -> String {
        "\"vfs\(pf)-\(cluster.map(String.init) ?? "none")\""
    }

    /// `text` as a double-quoted DOT string: `\` and `"` escaped, newlines as `\n` (a centred
    /// line break in a label), every other control character (C0, DEL, C1) as `?`.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += " "
            default:
                if scalar.isControlCharacter {
                    out += "?"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// At most `limit` characters, with an ellipsis when cut; newlines in a host string become spaces.
    static func shortened(_ text: String, to limit: Int) -> String {
        let flat = text.replacingNewlines()
        return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 }))
    }
}
