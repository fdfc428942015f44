import Analysis
import PCIModel

/// `vfioctl diff` as text: the two sides, functions added/removed/replaced, group changes
/// with their reasons, then per-function changes.
enum DiffText {
    static func render(_ diff: HostDiff, a: (String, HostModel), b: (String, HostModel)) -> String {
        var lines: [String] = []
        lines.append("A: \(a.1.source) (kernel \(a.1.facts.kernelRelease ?? "unknown"))")
        lines.append("B: \(b.1.source) (kernel \(b.1.facts.kernelRelease ?? "unknown"))")
        if diff.kernelReleases.a != diff.kernelReleases.b {
            lines.append("Kernel: \(diff.kernelReleases.a ?? "unknown") → \(diff.kernelReleases.b ?? "unknown")")
        }
        lines.append(
            diff.basis == .kernel
                ? "Groups compared: the kernel's (kernel/iommu_groups on both sides)"
                : "Groups compared: predicted from config space (a side has no kernel groups)")
        func summary(_ function: FunctionSummary) -> String {
            "\(function.address) [\(function.ids)]" + (function.name.map { " \($0)" } ?? "")
        }
        if !diff.added.isEmpty {
            lines.append("")
            lines.append("Functions added (\(diff.added.count)):")
            lines += diff.added.map { "  + " + summary($0) }
        }
        if !diff.removed.isEmpty {
            lines.append("")
            lines.append("Functions removed (\(diff.removed.count)):")
            lines += diff.removed.map { "  - " + summary($0) }
        }
        if !diff.replaced.isEmpty {
            lines.append("")
            lines.append("Functions replaced (\(diff.replaced.count)):")
            for replacement in diff.replaced {
                lines.append("  ~ " + summary(replacement.before))
                lines.append("    → [\(replacement.after.ids)]" + (replacement.after.name.map { " \($0)" } ?? ""))
            }
        }
        lines.append("")
        if diff.groupChanges.isEmpty {
            lines.append("Groups identical (\(diff.unchangedGroups) groups).")
        } else {
            lines.append(
                "Group changes (\(diff.groupChanges.count); \(diff.unchangedGroups) groups unchanged):")
            for change in diff.groupChanges {
                lines.append("  \(change.kind.rawValue):")
                for group in change.before { lines += wrapped(group, label: "    A: ") }
                for group in change.after { lines += wrapped(group, label: "    B: ") }
                for reason in change.reasons { lines += wrapped(words: reason.message, label: "    because: ") }
            }
        }
        if !diff.functionChanges.isEmpty {
            lines.append("")
            lines.append("Function changes:")
            var last: PCIAddress?
            for change in diff.functionChanges {
                let prefix = change.address == last ? String(repeating: " ", count: 14) : "  \(change.address)"
                last = change.address
                lines.append(
                    "\(prefix)  \(label(change.field)): \(value(change.before, change.field)) → "
                        + value(change.after, change.field))
            }
        }
        return lines.map(\.terminalSafe).joined(separator: "\n") + "\n"
    }

    /// Words after `label`, continued under the first word, within 100 columns.
    static func wrapped(words text: String, label: String) -> [String] {
        var lines: [String] = []
        var line = label
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > 100, line.count > label.count {
                lines.append(line)
                line = String(repeating: " ", count: label.count)
            } else if line.count > label.count {
                line += " "
            }
            line += word
        }
        lines.append(line)
        return lines
    }

    /// `[addr addr …]` over as many lines as it takes to stay within 100 columns.
    static func wrapped(_ group: [PCIAddress], label: String) -> [String] {
        var lines: [String] = []
        var line = label + "["
        for (index, address) in group.enumerated() {
            let word = address.description + (index == group.count - 1 ? "]" : "")
            if line.count + word.count + 1 > 100, line.count > label.count + 1 {
                lines.append(line)
                line = String(repeating: " ", count: label.count + 1)
            } else if index > 0 {
                line += " "
            }
            line += word
        }
        if group.isEmpty { line += "]" }
        lines.append(line)
        return lines
    }

    static func label(_ field: FunctionChange.Field) -> String {
        switch field {
        case .driver: "driver"
        case .acsCapability: "ACS capability"
        case .acsControl: "ACS control"
        case .multifunction: "multifunction"
        case .resetMethods: "reset methods"
        case .sriovNumVFs: "SR-IOV numvfs"
        case .sriovTotalVFs: "SR-IOV totalvfs"
        case .verdict: "verdict"
        }
    }

    static func value(_ value: String?, _ field: FunctionChange.Field) -> String {
        guard let value else {
            switch field {
            case .driver: return "none"
            case .resetMethods: return "(no reset_method file)"
            default: return "absent"
            }
        }
        return value.isEmpty ? "(none)" : value
    }
}
