import Analysis
import PCIModel
import QuirkDB
import WhatIf

/// `inspect --assume-…` as text and JSON: the assumptions, the groups before and after for the
/// functions asked about (or every function whose group changes), and what makes each real.
struct WhatIfOutput {
    let prediction: WhatIfPrediction
    let selected: [PCIAddress]?

    static let schemaVersion = 1

    /// The functions shown: those asked about, else every non-bridge function whose group changes.
    var shown: [PCIAddress] {
        if let selected { return selected }
        return prediction.changedFunctions.filter { prediction.before.model[$0]?.isBridge == false }
    }

    private var groupsName: String { prediction.beforeIsKernel ? "kernel" : "predicted" }

    func text(style: TextStyle) -> String {
        var lines: [String] = []
        let model = prediction.before.model
        lines.append("What if — predicted by the kernel's grouping rules; nothing on the host changes.")
        for assumption in prediction.acs {
            let ids = model[assumption.port]?.ids ?? "?"
            lines.append(
                "  ACS on \(assumption.port) [\(ids)]: control 0x\(hex(assumption.controlBefore.rawValue, width: 4))"
                    + " → 0x\(hex(assumption.controlAfter.rawValue, width: 4))"
                    + (assumption.enabling.isEmpty
                        ? " (already set)" : " (sets \(assumption.enabling.shortNames.joined(separator: " ")))"))
        }
        for quirk in prediction.quirkAssumptions {
            let matches = quirk.applied && !quirk.matchedAfter ? " (it matches nothing on this host)" : ""
            lines.append(
                "  quirk \(quirk.quirk.id) assumed \(quirk.applied ? "to apply" : "absent")\(matches): \(quirk.quirk.title)"
            )
        }
        if prediction.kernelDisagrees {
            lines.append(
                style.wrap(
                    "Note: the kernel's groups here are not what its rules predict from config space "
                        + "(pcie_acs_override=, or a quirk vfioctl does not know): \"changed\" compares predictions, "
                        + "and the kernel's own group is shown too.", indent: 2, hanging: 2))
        }
        lines.append("")
        let functions = shown
        if functions.isEmpty {
            lines.append("No group changes: every function keeps its group.")
        } else {
            lines.append("Groups before → after (both predicted by the kernel's rules; * marks the function):")
            for address in functions {
                let ids = model[address]?.ids ?? "?"
                let verdictBefore = prediction.before.verdict(of: address) ?? .unknown
                let verdictAfter = prediction.after.verdict(of: address) ?? .unknown
                lines.append(
                    "  \(address) [\(ids)]  \(style.verdict(verdictBefore)) → \(style.verdict(verdictAfter))")
                var columns = [("before", prediction.predictedBefore(address) ?? [])]
                if prediction.beforeIsKernel, let kernel = prediction.groupBefore(address),
                    kernel != prediction.predictedBefore(address)
                {
                    columns.append(("kernel now", kernel))
                }
                columns.append(("after", prediction.groupAfter(address) ?? []))
                lines += sideBySide(columns, marking: address)
                if selected != nil, let slots = slotsText(for: address) {
                    lines.append(style.wrap("or move the card: " + slots, indent: 4, hanging: 6))
                }
            }
        }
        let changed = prediction.changedFunctions
        let bridges = changed.filter { model[$0]?.isBridge == true }.count
        lines.append(
            "Groups: \(groupCount(before: true)) → \(groupCount(before: false))"
                + " (\(changed.count - bridges) devices and \(bridges) bridges change group)")
        lines.append("")
        lines.append("What makes it real:")
        for paragraph in makesReal() {
            lines.append(style.wrap(paragraph, indent: 2, hanging: 4))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Groups in columns, one member a row, the function itself marked with `*`:
    ///     before (5)        after (2)
    ///     0000:00:03.0      0000:03:00.0
    private func sideBySide(_ columns: [(title: String, members: [PCIAddress])], marking address: PCIAddress)
        -> [String]
    {
        let width = 20
        func cell(_ text: String) -> String { text + String(repeating: " ", count: max(1, width - text.count)) }
        var rows = [
            ("    " + columns.map { cell("\($0.title) (\($0.members.count))") }.joined()).trimmingTrailingSpaces()
        ]
        for index in 0..<(columns.map(\.members.count).max() ?? 0) {
            let row = columns.map { column -> String in
                guard index < column.members.count else { return cell("") }
                let member = column.members[index]
                return cell(member.description + (member == address ? "*" : ""))
            }
            rows.append(("    " + row.joined()).trimmingTrailingSpaces())
        }
        return rows
    }

    /// Every group before: the kernel's when the source has them, else the predicted ones.
    private var groupsBefore: [[PCIAddress]] {
        if prediction.beforeIsKernel, let groups = prediction.before.model.kernelGroups {
            return groups.sorted { $0.key < $1.key }.map { $0.value.sorted() }
        }
        return prediction.before.prediction.groups
    }

    private func groupCount(before: Bool) -> Int {
        if before, prediction.beforeIsKernel { return prediction.before.model.kernelGroups?.count ?? 0 }
        return (before ? prediction.before : prediction.after).prediction.groups.count
    }

    /// Slots that would give the card its own group on this host as it is (SlotSearch), for
    /// a function still sharing its group after the assumptions; nil when none or not sharing.
    func slots(for address: PCIAddress) -> [SlotOption]? {
        let model = prediction.before.model
        guard model[address]?.isBridge == false, let after = prediction.groupAfter(address),
            !after.allSatisfy({ $0.slot == address.slot || model[$0]?.isBridge == true })
        else { return nil }
        let found = SlotSearch.isolatingSlots(
            for: address, in: model, policy: prediction.beforeQuirks.policy, prediction: prediction.before.prediction)
        return found.isEmpty ? nil : found
    }

    private func slotsText(for address: PCIAddress) -> String? {
        slots(for: address).map { found in
            found.map { slot in
                "\(slot.port) [\(slot.portIDs)]"
                    + (slot.isFree
                        ? " (free)" : " (taken by \(slot.occupiedBy.map(\.description).joined(separator: ", ")))")
            }
            .joined(separator: ", ") + " would give it a group of its own (`vfioctl advise \(address)`)"
        }
    }

    /// One paragraph per assumption kind.
    func makesReal() -> [String] {
        var paragraphs: [String] = []
        if let parameter = prediction.parameter {
            let first = parameter.entries.first.map(\.port.description) ?? "PORT"
            let running = prediction.before.model.facts.kernelVersion
            let tooOld = running.map { $0 < ConfigACSParameter.introduced } ?? false
            paragraphs.append(
                "\(parameter.text.terminalSafe) — the upstream kernel parameter that sets these ACS Control bits "
                    + "at boot" + (parameter.kernelNote(running: running).map { "; \($0)" } ?? "") + ". "
                    + (tooOld ? "Once on Linux \(ConfigACSParameter.introduced) or later, add" : "Add")
                    + " \(parameter.grubWord.terminalSafe) inside GRUB_CMDLINE_LINUX's double quotes in /etc/default/grub"
                    + (parameter.text.contains(";")
                        ? " (the single quotes keep GRUB from splitting the word at ';': grub.cfg's linux line is not quoted)"
                        : "")
                    + ", run update-grub and reboot; then `lspci -vvv -s \(first) | grep ACSCtl` shows the bits and "
                    + "`vfioctl inspect` the kernel's groups. The kernel also enables SV RR CR UF by itself when an "
                    + "IOMMU driver is active (pci_std_enable_acs), so on such a host bits that are off were cleared by "
                    + "something else: check for pci=disable_acs_redir= on the command line.")
            if !parameter.kept.isEmpty {
                paragraphs.append(
                    "It keeps, after its own, the config_acs entries already on the command line for other devices "
                        + "(\(parameter.kept.joined(separator: ";").terminalSafe)): the kernel honours only the last "
                        + "config_acs=, so replace the old one.")
            }
        } else if !prediction.acs.isEmpty {
            paragraphs.append(
                "Nothing to set: those ACS bits are already on ("
                    + prediction.acs.map { "\($0.port) 0x\(hex($0.controlBefore.rawValue, width: 4))" }
                    .joined(separator: ", ") + ").")
        }
        for quirk in prediction.quirkAssumptions {
            if quirk.applied {
                let conditions = quirk.quirk.host?.summary ?? "none"
                paragraphs.append(
                    "quirk \(quirk.quirk.id) (\(quirk.quirk.source)): real on a host and kernel where it applies "
                        + "(host conditions: \(conditions))"
                        + (quirk.matchedBefore ? "; it already applies here." : "; it does not apply here now."))
            } else {
                paragraphs.append(
                    "no quirk \(quirk.quirk.id): models a kernel without it (one from before the quirk, or a "
                        + "database where a local quirks.d entry overrides it)"
                        + (quirk.matchedBefore ? "." : "; it does not apply here anyway, so nothing changes."))
            }
        }
        return paragraphs
    }

    func json() -> JSON {
        let model = prediction.before.model
        func group(_ members: [PCIAddress]?) -> JSON {
            members.map { .array($0.map { .string($0.description) }) } ?? .null
        }
        var makes: [JSON] = []
        if let parameter = prediction.parameter {
            makes.append(
                .object([
                    ("kind", .string("config-acs")),
                    ("parameter", .string(parameter.text)),
                    ("grubWord", .string(parameter.grubWord)),
                    ("minimumKernel", .string(ConfigACSParameter.introduced.description)),
                    ("kernelNote", .optional(parameter.kernelNote(running: model.facts.kernelVersion))),
                    ("kept", .array(parameter.kept.map(JSON.string))),
                ]))
        }
        for quirk in prediction.quirkAssumptions {
            makes.append(
                .object([
                    ("kind", .string(quirk.applied ? "quirk" : "no-quirk")),
                    ("id", .string(quirk.quirk.id)),
                    ("hostConditions", .optional(quirk.quirk.host?.summary)),
                ]))
        }
        return .object([
            ("schemaVersion", .int(Self.schemaVersion)),
            ("kind", .string("what-if")),
            ("tool", .string("vfioctl \(VFIOCtl.version)")),
            ("source", .string(model.source)),
            ("kernelRelease", .optional(model.facts.kernelRelease)),
            ("beforeFrom", .string(groupsName)),
            ("kernelDisagrees", .bool(prediction.kernelDisagrees)),
            (
                "assumptions",
                .object([
                    (
                        "acs",
                        .array(
                            prediction.acs.map { a in
                                .object([
                                    ("port", .string(a.port.description)),
                                    ("ids", .optional(model[a.port]?.ids)),
                                    ("capability", .string(hex(a.capability.rawValue, width: 4))),
                                    ("controlBefore", .string(hex(a.controlBefore.rawValue, width: 4))),
                                    ("controlAfter", .string(hex(a.controlAfter.rawValue, width: 4))),
                                    ("enabling", .array(a.enabling.shortNames.map(JSON.string))),
                                ])
                            })
                    ),
                    (
                        "quirks",
                        .array(
                            prediction.quirkAssumptions.map { q in
                                .object([
                                    ("id", .string(q.quirk.id)), ("applied", .bool(q.applied)),
                                    ("appliesBefore", .bool(q.matchedBefore)), ("appliesAfter", .bool(q.matchedAfter)),
                                ])
                            })
                    ),
                ])
            ),
            (
                "groupCount",
                .object([("before", .int(groupCount(before: true))), ("after", .int(groupCount(before: false)))])
            ),
            (
                "groups",
                .object([
                    ("before", .array(groupsBefore.map { group($0) })),
                    ("after", .array(prediction.after.prediction.groups.map { group($0) })),
                ])
            ),
            (
                "functions",
                .array(
                    shown.map { address in
                        .object([
                            ("address", .string(address.description)),
                            ("changed", .bool(prediction.predictedBefore(address) != prediction.groupAfter(address))),
                            (
                                "isolatingSlots",
                                .array((slots(for: address) ?? []).map { .string($0.port.description) })
                            ),
                            (
                                "before",
                                .object([
                                    ("group", group(prediction.groupBefore(address))),
                                    ("predictedGroup", group(prediction.predictedBefore(address))),
                                    ("verdict", .optional(prediction.before.verdict(of: address)?.rawValue)),
                                ])
                            ),
                            (
                                "after",
                                .object([
                                    ("group", group(prediction.groupAfter(address))),
                                    ("verdict", .optional(prediction.after.verdict(of: address)?.rawValue)),
                                ])
                            ),
                        ])
                    })
            ),
            ("makesReal", .array(makes)),
        ])
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
