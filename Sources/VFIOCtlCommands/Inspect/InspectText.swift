import Analysis
import PCIModel
import QuirkDB

/// The human-readable report of `vfioctl inspect` (and `--tree`).
struct InspectText {
    let report: InspectReport
    let quirks: QuirkEvaluation
    let style: TextStyle

    /// Summary first (the host checks, one line per IOMMU group with its verdict), then details
    /// only for devices that are not plainly assignable (or were asked for), with what applies
    /// to several devices — a reason, a quirk's advice — said once with the list of devices.
    func render(selected: [PCIAddress]?) -> String {
        let model = report.model
        var out: [String] = [
            "vfioctl \(VFIOCtl.version): \(model.source.terminalSafe), \(model.devices.count) PCI functions"
        ]
        out.append(quirks.kernel.summary)
        out.append("")
        out.append("Host")
        for check in report.hostChecks {
            out.append(
                style.wrap(
                    "\(check.status.rawValue.uppercased().padded(7)) \(check.code.rawValue): \(check.message)",
                    indent: 2,
                    hanging: 10))
        }
        let wanted = selected.map(Set.init)
        out.append("")
        out += groupSummary(wanted: wanted)

        // Details: devices not plainly assignable, bridges left out (they stay with the host);
        // every device asked for.
        let shown = report.devices.filter { assessment in
            guard let device = model[assessment.address] else { return false }
            if let wanted { return wanted.contains(assessment.address) }
            return !device.isBridge && assessment.verdict != .assignable
        }
        // A reason with the same words on several shown devices is said once.
        var reasonDevices: [String: [PCIAddress]] = [:]
        for assessment in shown {
            for reason in assessment.reasons where reason.code != .quirk {
                reasonDevices["\(reason.code.rawValue): \(reason.message)", default: []].append(assessment.address)
            }
        }
        let shared = Set(reasonDevices.filter { $0.value.count > 1 }.keys)
        if !shown.isEmpty {
            out.append("")
            out.append(wanted == nil ? "Details (devices that are not plainly assignable)" : "Details")
        }
        for assessment in shown {
            guard let device = model[assessment.address] else { continue }
            out.append(deviceLine(device))
            let group =
                device.iommuGroup.map { id in
                    "IOMMU group \(id)" + (model.groupTypes[id].map { " (\($0.rawValue))" } ?? "")
                } ?? "no kernel group"
            let predicted = assessment.predictedGroup.map { "predicted group \($0)" } ?? ""
            var owner = ""
            if device.isVFIOOwned {
                owner = "; \(device.vfioOwnership)" + (device.vfioCdevPath.map { ", cdev \($0)" } ?? "")
            }
            out.append(
                style.wrap(
                    "\(group), \(predicted): \(style.verdict(assessment.verdict))\(owner)", indent: 4, hanging: 6))
            out.append(style.wrap(resetLine(ResetCapability(of: device, in: model)), indent: 4, hanging: 6))
            for reason in assessment.reasons
            where reason.code != .quirk && (reason.severity != .assignable || selected != nil) {
                let text = "\(reason.code.rawValue): \(reason.message)"
                if shared.contains(text) {
                    out.append(
                        style.wrap("- \(reason.code.rawValue) (below, with other devices)", indent: 4, hanging: 6))
                } else {
                    out.append(style.wrap("- \(text)", indent: 4, hanging: 6))
                }
            }
            let matched = (quirks.matches[device.address] ?? []).map { match in
                match.quirk.id + (match.dependsOnGuest ? " [when the guest matches]" : "")
            }
            if !matched.isEmpty {
                out.append(
                    style.wrap("* quirks (advice below): " + matched.joined(separator: ", "), indent: 4, hanging: 6))
            }
        }
        if !shared.isEmpty {
            out.append("")
            out.append("Said once for several devices")
            for text in shared.sorted() {
                out.append(style.wrap("- \(text)", indent: 2, hanging: 4))
                out.append(style.wrap("devices: " + Self.list(reasonDevices[text] ?? []), indent: 4, hanging: 6))
            }
        }
        // Quirks of the bridges above the shown devices too (an IDT switch without ACS, a root
        // port whose ACS is off): their advice is about these devices.
        var relevant = shown.map(\.address)
        var seen = Set(relevant)
        for address in shown.map(\.address) {
            for bridge in model.upstreamBridges(of: address) where seen.insert(bridge.address).inserted {
                relevant.append(bridge.address)
            }
        }
        out += quirkAdvice(for: relevant)
        if !report.disagreements.isEmpty {
            out.append("")
            out.append("Kernel and predicted groups disagree")
            for d in report.disagreements {
                out.append(
                    style.wrap(
                        "group \(d.kernelGroup): kernel {\(d.kernelMembers.map(\.description).joined(separator: ", "))}, predicted {\(d.predictedMembers.map(\.description).joined(separator: ", "))}",
                        indent: 2, hanging: 4))
            }
        }
        if !model.anomalies.isEmpty {
            out.append("")
            out.append("Problems reading the source")
            for anomaly in model.anomalies {
                out.append(style.wrap("- \(anomaly.terminalSafe)", indent: 2, hanging: 4))
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// One line per IOMMU group (the kernel's; predicted ones when the source has none):
    /// `g12 CAVEATS   0000:04:00.0 0000:04:00.1 (+3 bridges)`.
    private func groupSummary(wanted: Set<PCIAddress>?) -> [String] {
        let model = report.model
        let kernel = model.kernelGroups.flatMap { $0.isEmpty ? nil : $0 }
        let groups: [(id: String, members: [PCIAddress])] =
            kernel.map { groups in groups.sorted { $0.key < $1.key }.map { ("g\($0.key)", $0.value.sorted()) } }
            ?? report.prediction.groups.enumerated().map { ("p\($0.offset)", $0.element) }
        var out = [
            kernel == nil
                ? "Groups (predicted from config space: the source has no kernel groups)"
                : "Groups (the kernel's)"
        ]
        for (id, members) in groups where wanted.map({ !$0.isDisjoint(with: members) }) ?? true {
            let devices = members.filter { model[$0]?.isBridge == false }
            let bridges = members.count - devices.count
            let groupVerdict: Verdict? = devices.isEmpty ? nil : report.verdict(ofGroup: members)
            let word = groupVerdict?.rawValue.uppercased() ?? "HOST"
            let shownWord = groupVerdict.map { style.verdict($0) } ?? word
            let prefix = "\(id.padded(5)) "
            let padding = String(repeating: " ", count: max(1, 11 - word.count))
            let tail = bridges > 0 ? " (+\(bridges) bridge\(bridges == 1 ? "" : "s"))" : ""
            var listed = devices.isEmpty ? "bridges only: " + Self.list(members) : Self.list(devices)
            let room = style.width - 2 - prefix.count - word.count - padding.count - tail.count
            if listed.count > room {
                listed = String(listed.prefix(max(0, room - 16))) + "… (\(devices.count) devices)"
            }
            out.append("  " + prefix + shownWord + padding + listed + (devices.isEmpty ? "" : tail))
        }
        return out
    }

    /// Each matched quirk once: its title and advice, and the devices it applies to.
    private func quirkAdvice(for addresses: [PCIAddress]) -> [String] {
        var order: [String] = []
        var byID: [String: (quirk: Quirk, devices: [PCIAddress])] = [:]
        for address in addresses {
            for match in quirks.matches[address] ?? [] {
                if byID[match.quirk.id] == nil {
                    order.append(match.quirk.id)
                    byID[match.quirk.id] = (match.quirk, [])
                }
                byID[match.quirk.id]?.devices.append(address)
            }
        }
        guard !order.isEmpty else { return [] }
        var out = ["", "Quirk advice"]
        for id in order {
            guard let entry = byID[id] else { continue }
            var text = "* quirk \(id) (\(entry.quirk.effect.name)): \(entry.quirk.title)"
            if let advice = entry.quirk.advice { text += ". \(advice)" }
            out.append(style.wrap(text, indent: 2, hanging: 4))
            out.append(style.wrap("devices: " + Self.list(entry.devices), indent: 4, hanging: 6))
        }
        return out
    }

    static func list(_ addresses: [PCIAddress]) -> String { addresses.map(\.description).joined(separator: " ") }

    /// `reset: flr pm (reset_method)`, and the functions a bus reset would take with it.
    private func resetLine(_ reset: ResetCapability) -> String {
        let methods = reset.methods.isEmpty ? "none" : reset.methods.map(\.rawValue).joined(separator: " ")
        var line = "reset: \(methods) (\(reset.source.rawValue))"
        if let bridge = reset.busResetBridge, !reset.busResetAlsoResets.isEmpty {
            line +=
                "; a bus reset of \(bridge) also resets "
                + reset.busResetAlsoResets.map(\.description).joined(separator: ", ")
        }
        if reset.busListingStale { line += " (bus listed before its bus-mates were scanned: not usable)" }
        return line
    }

    private func deviceLine(_ device: PCIDevice) -> String {
        let driver = device.driver.map { "[\($0.terminalSafe)]" } ?? "[no driver]"
        let line = "  \(device.address)  \(device.ids)  \(driver)  \((device.name ?? "(unknown device)").terminalSafe)"
        return line.count > style.width ? String(line.prefix(style.width - 1)) + "…" : line
    }

    /// The PCI hierarchy, bridges with their ACS state, endpoints with their verdicts.
    func renderTree(selected: [PCIAddress]?) -> String {
        let model = report.model
        var keep: Set<PCIAddress>? = nil
        if let selected {
            var set = Set(selected)
            for address in selected { set.formUnion(model.upstreamBridges(of: address).map(\.address)) }
            keep = set
        }
        // The readers refuse a repeated address; should one slip through, the first one's
        // verdict is shown rather than the report trapping.
        let verdicts = Dictionary(
            report.devices.map { ($0.address, $0.verdict) }, uniquingKeysWith: { first, _ in first })
        let policy = quirks.policy
        var lines: [String] = []
        func visit(_ device: PCIDevice, prefix: String, isLast: Bool) {
            let branch = prefix + (isLast ? "└─ " : "├─ ")
            var text =
                "\(device.address) [\(device.ids)] \(device.portType?.jsonName ?? (device.isBridge ? "pci-bridge" : "pci"))"
            if device.isBridge || device.isMultifunction {
                text += "; \(policy.evaluate(device).rule.explanation)"
            }
            let group = device.iommuGroup.map { "g\($0)" } ?? "g-"
            let predicted = report.prediction.group(of: device.address).map { "p\($0)" } ?? "p-"
            text += "  \(group)/\(predicted)"
            if !device.isBridge, let verdict = verdicts[device.address] { text += "  \(style.verdict(verdict))" }
            lines.append(branch + text)
            let children = model.children(of: device.address).filter { keep?.contains($0.address) ?? true }
            for (index, child) in children.enumerated() {
                visit(child, prefix: prefix + (isLast ? "   " : "│  "), isLast: index == children.count - 1)
            }
        }
        let roots = model.devices.filter { $0.parent == nil && (keep?.contains($0.address) ?? true) }
        let byBus = Dictionary(
            grouping: roots, by: { "pci\(hex($0.address.domain, width: 4)):\(hex($0.address.bus, width: 2))" })
        for bus in byBus.keys.sorted() {
            lines.append(bus)
            let members = byBus[bus] ?? []
            for (index, device) in members.enumerated() {
                visit(device, prefix: "", isLast: index == members.count - 1)
            }
        }
        lines.append("(gN: kernel IOMMU group, pN: predicted group)")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
