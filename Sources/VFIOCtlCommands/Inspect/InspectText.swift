import Analysis
import PCIModel
import QuirkDB

/// The human-readable report of `vfioctl inspect` (and `--tree`).
struct InspectText {
    let report: InspectReport
    let quirks: QuirkEvaluation
    let style: TextStyle

    func render(selected: [PCIAddress]?) -> String {
        let model = report.model
        var out: [String] = ["vfioctl \(VFIOCtl.version): \(model.source), \(model.devices.count) PCI functions"]
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
        out.append("")
        out.append("Devices")
        let wanted = selected.map(Set.init)
        for assessment in report.devices where wanted?.contains(assessment.address) ?? true {
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
                out.append(style.wrap("- \(reason.code.rawValue): \(reason.message)", indent: 4, hanging: 6))
            }
            for match in quirks.matches[device.address] ?? [] {
                let quirk = match.quirk
                var text = "* quirk \(quirk.id) (\(quirk.effect.name)): \(quirk.title)"
                if match.dependsOnGuest { text += " [when the guest matches]" }
                if let advice = quirk.advice { text += ". \(advice)" }
                out.append(style.wrap(text, indent: 4, hanging: 6))
            }
        }
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
        let driver = device.driver.map { "[\($0)]" } ?? "[no driver]"
        let line = "  \(device.address)  \(device.ids)  \(driver)  \(device.name ?? "(unknown device)")"
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
