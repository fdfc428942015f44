import Analysis
import PCIModel

/// `vfioctl diff --json` (Docs/json-schema.md, "vfioctl diff --json").
enum DiffJSON {
    static let schemaVersion = 1

    static func render(_ diff: HostDiff, a: (String, HostModel), b: (String, HostModel)) -> JSON {
        func side(_ side: (String, HostModel)) -> JSON {
            .object([
                ("operand", .string(side.0)), ("source", .string(side.1.source)),
                ("kernelRelease", .optional(side.1.facts.kernelRelease)),
                ("functions", .int(side.1.devices.count)),
            ])
        }
        func function(_ summary: FunctionSummary) -> JSON {
            .object([
                ("address", .string(summary.address.description)), ("ids", .string(summary.ids)),
                ("name", .optional(summary.name)),
            ])
        }
        func group(_ members: [PCIAddress]) -> JSON { .array(members.map { .string($0.description) }) }
        return .object([
            ("schemaVersion", .int(schemaVersion)),
            ("a", side(a)), ("b", side(b)),
            ("kernelChanged", .bool(diff.kernelReleases.a != diff.kernelReleases.b)),
            ("groupBasis", .string(diff.basis.rawValue)),
            ("groupsDiffer", .bool(diff.groupsDiffer)),
            ("unchangedGroups", .int(diff.unchangedGroups)),
            ("added", .array(diff.added.map(function))),
            ("removed", .array(diff.removed.map(function))),
            (
                "replaced",
                .array(
                    diff.replaced.map {
                        .object([
                            ("address", .string($0.before.address.description)), ("before", function($0.before)),
                            ("after", function($0.after)),
                        ])
                    })
            ),
            (
                "groupChanges",
                .array(
                    diff.groupChanges.map { change in
                        .object([
                            ("kind", .string(change.kind.rawValue)),
                            ("before", .array(change.before.map(group))),
                            ("after", .array(change.after.map(group))),
                            ("reasons", .array(change.reasons.map(reason))),
                        ])
                    })
            ),
            (
                "functionChanges",
                .array(
                    diff.functionChanges.map {
                        .object([
                            ("address", .string($0.address.description)), ("field", .string($0.field.rawValue)),
                            ("before", .optional($0.before)), ("after", .optional($0.after)),
                        ])
                    })
            ),
        ])
    }

    static func reason(_ reason: GroupChangeReason) -> JSON {
        var members: [(String, JSON)] = [("code", .string(reason.code))]
        if let address = reason.address { members.append(("address", .string(address.description))) }
        switch reason {
        case .isolationQuirk(let id, _, let side, let isolated):
            members += [("quirk", .string(id)), ("side", .string(side.rawValue)), ("isolated", .bool(isolated))]
        case .acsControl(_, let before, let after):
            members += [("before", .int(Int(before.rawValue))), ("after", .int(Int(after.rawValue)))]
        case .acsCapability(_, let before, let after):
            members += [
                ("before", before.map { .int(Int($0.rawValue)) } ?? .null),
                ("after", after.map { .int(Int($0.rawValue)) } ?? .null),
            ]
        case .functions(let removed, let added, let replaced):
            func list(_ addresses: [PCIAddress]) -> JSON { .array(addresses.map { .string($0.description) }) }
            members += [("removed", list(removed)), ("added", list(added)), ("replaced", list(replaced))]
        case .bridgeOnlyOn(_, let side):
            members.append(("side", .string(side.rawValue)))
        case .multifunction(_, let before, let after):
            members += [("before", .bool(before)), ("after", .bool(after))]
        case .kernelParameters(let onlyA, let onlyB):
            members += [("onlyA", .array(onlyA.map(JSON.string))), ("onlyB", .array(onlyB.map(JSON.string)))]
        case .kernelRelease(let a, let b), .notExplainedByConfigSpace(let a, let b):
            members += [("a", .optional(a)), ("b", .optional(b))]
        case .acsRule: break
        }
        members.append(("message", .string(reason.message)))
        return .object(members)
    }
}
