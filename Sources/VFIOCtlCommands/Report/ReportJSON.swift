import Analysis
import Fleet
import PCIModel

/// `vfioctl report --json` (Docs/json-schema.md, "vfioctl report --json").
enum ReportJSON {
    static let schemaVersion = 1

    static func render(_ report: FleetReport, _ context: ReportContext) -> JSON {
        .object([
            ("kind", .string("fleet-report")),
            ("schemaVersion", .int(schemaVersion)),
            ("directory", .string(context.directory)),
            (
                "hosts",
                .array(
                    report.hosts.map { host in
                        .object([
                            ("name", .string(host.name)), ("file", .optional(host.file)),
                            ("board", board(host.board)), ("kernelRelease", .optional(host.kernelRelease)),
                            ("functions", .int(host.functions)), ("groupBasis", .string(host.basis.rawValue)),
                        ])
                    })
            ),
            (
                "unreadable",
                .array(
                    context.failures.map {
                        .object([("file", .string($0.file.description)), ("error", .string($0.message))])
                    })
            ),
            (
                "skipped",
                .array(
                    context.skipped.map {
                        .object([("file", .string($0.file.description)), ("reason", .string($0.reason))])
                    })
            ),
            (
                "boards",
                .array(
                    report.boards.map { entry in
                        .object([("board", board(entry.board)), ("hosts", .array(entry.hosts.map(JSON.string)))])
                    })
            ),
            (
                "models",
                .array(
                    report.entries.map { entry in
                        model(entry, boardIndex: report.boards.firstIndex { $0.board == entry.board } ?? -1)
                    })
            ),
        ])
    }

    static func board(_ board: FleetBoard) -> JSON {
        var members: [(String, JSON)] = [("kind", .string(board.kind)), ("description", .string(board.description))]
        switch board {
        case .dmi(let dmi):
            members += [
                ("vendor", .optional(dmi.vendor)), ("name", .optional(dmi.name)), ("product", .optional(dmi.product)),
            ]
        case .chipset(let ids):
            members.append(("chipset", .array(ids.map(JSON.string))))
        }
        return .object(members)
    }

    /// `boardIndex` is the entry's board in `boards[]`: what says which board the model is
    /// on (`board` is its description, for reading).
    static func model(_ entry: FleetModelEntry, boardIndex: Int) -> JSON {
        .object([
            ("board", .string(entry.board.description)), ("boardIndex", .int(boardIndex)),
            ("ids", .string(entry.model.ids)), ("subsystem", .optional(entry.model.subsystem)),
            ("name", .optional(entry.name)),
            ("differs", .bool(entry.differs)),
            (
                "hosts",
                .array(
                    entry.hosts.map { host in
                        .object([
                            ("name", .string(host.name)),
                            ("functions", .array(host.functions.map { .string($0.description) })),
                        ])
                    })
            ),
            ("missingOn", .array(entry.missingOn.map(JSON.string))),
            (
                "aspects",
                .array(
                    entry.comparisons.map { comparison in
                        .object([
                            ("aspect", .string(comparison.aspect.rawValue)), ("differs", .bool(comparison.differs)),
                            (
                                "variants",
                                .array(
                                    comparison.variants.map { variant in
                                        .object([
                                            ("hosts", .array(variant.hosts.map(JSON.string))),
                                            ("value", .array(variant.lines.map(JSON.string))),
                                            ("why", .array(variant.detail.map(JSON.string))),
                                        ])
                                    })
                            ),
                        ])
                    })
            ),
            (
                "explanations",
                .array(
                    entry.explanations.map { explanation in
                        .object([
                            ("host", .string(explanation.host)), ("reference", .string(explanation.reference)),
                            ("reasons", .array(explanation.reasons.map(DiffJSON.reason))),
                        ])
                    })
            ),
        ])
    }
}
