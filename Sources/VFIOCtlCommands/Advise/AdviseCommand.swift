import Analysis
import ArgumentParser
import PCIModel
import QuirkDB
import WhatIf

extension VFIOCtl {
    /// `vfioctl advise ADDRESS`: the smallest change that makes one function assignable alone.
    struct Advise: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what would give one PCI function an IOMMU group of its own, safest first.",
            discussion: reflow(
                """
                Looks at every bridge above the function that fails the kernel's ACS test and at the
                host's other slots, and lists the changes that would isolate it, each with the group it
                would then be in: ACS bits set with pci=config_acs= (only on ports whose hardware
                advertises them), a kernel quirk that applies on other kernels, a slot whose ports
                isolate, and last the ACS override that only pretends. Nothing on the host changes.

                Examples:
                  vfioctl advise 0000:06:00.0
                  vfioctl advise --snapshot forum-host.tar.gz 06:00.0 --json
                """))

        @OptionGroup var source: SourceOptions
        @OptionGroup var output: OutputOptions

        @Argument(
            help: ArgumentHelp("The function to isolate (DDDD:BB:DD.F or BB:DD.F).", valueName: "address"),
            completion: .pciAddress)
        var address: PCIAddress

        func run() throws {
            let (model, snapshot) = try source.load()
            defer { withExtendedLifetime(snapshot) {} }
            let database = try loadQuirkDatabase(base: source.quirkBase(snapshot: snapshot))
            let advice: Advice
            do {
                advice = try Advice(for: address, model: model, database: database)
            } catch {
                throw CLIError(error.description)
            }
            if output.json {
                print(Self.json(advice, model: model).rendered(), terminator: "")
            } else {
                print(Self.text(advice, model: model, style: .standardOutput), terminator: "")
            }
        }

        static func text(_ advice: Advice, model: HostModel, style: TextStyle) -> String {
            var lines: [String] = []
            let ids = model[advice.address]?.ids ?? "?"
            lines.append("\(advice.address) [\(ids)]: \(style.verdict(advice.verdictNow))")
            lines.append(
                style.wrap(
                    "group now: " + advice.groupNow.map(\.description).joined(separator: " "), indent: 2, hanging: 4))
            if advice.aloneNow {
                lines.append(
                    "  Already in a group of its own (only its slot's functions and bridges): nothing to change.")
                return lines.joined(separator: "\n") + "\n"
            }
            for (address, why) in advice.unfixable {
                lines.append(style.wrap("cannot be fixed by a parameter: \(address): \(why)", indent: 2, hanging: 4))
            }
            lines.append("")
            lines.append("Options, safest first:")
            for (rank, option) in advice.options.enumerated() {
                let verdict = option.alone ? "isolates it" : "does not isolate it"
                lines.append("  \(rank + 1). \(option.change.kind) (\(verdict); isolation: \(option.safety.name))")
                lines.append(style.wrap(option.explanation, indent: 5, hanging: 5))
                if let group = option.groupAfter {
                    lines.append(
                        style.wrap(
                            "group then: " + group.map(\.description).joined(separator: " "), indent: 5, hanging: 7))
                }
            }
            return lines.joined(separator: "\n") + "\n"
        }

        static func json(_ advice: Advice, model: HostModel) -> JSON {
            func group(_ members: [PCIAddress]?) -> JSON {
                members.map { .array($0.map { .string($0.description) }) } ?? .null
            }
            return .object([
                ("schemaVersion", .int(1)),
                ("kind", .string("advice")),
                ("tool", .string("vfioctl \(VFIOCtl.version)")),
                ("source", .string(model.source)),
                ("address", .string(advice.address.description)),
                ("verdict", .string(advice.verdictNow.rawValue)),
                ("group", group(advice.groupNow)),
                ("alone", .bool(advice.aloneNow)),
                ("kernelGroup", group(advice.kernelGroupNow)),
                (
                    "unfixable",
                    .array(
                        advice.unfixable.map {
                            .object([("address", .string($0.address.description)), ("why", .string($0.why))])
                        })
                ),
                (
                    "options",
                    .array(
                        advice.options.map { option in
                            var members: [(String, JSON)] = [
                                ("kind", .string(option.change.kind)),
                                ("isolates", .bool(option.alone)),
                                ("safety", .string(option.safety.name)),
                                ("groupAfter", group(option.groupAfter)),
                                ("explanation", .string(option.explanation)),
                            ]
                            switch option.change {
                            case .configACS(let parameter, let note):
                                members += [("parameter", .string(parameter.text)), ("kernelNote", .optional(note))]
                            case .kernelQuirk(let id, _, let conditions):
                                members += [("quirk", .string(id)), ("hostConditions", .string(conditions))]
                            case .moveCard(let slot):
                                members += [
                                    ("port", .string(slot.port.description)),
                                    ("occupiedBy", .array(slot.occupiedBy.map { .string($0.description) })),
                                ]
                            case .overrideOnly:
                                break
                            }
                            return .object(members)
                        })
                ),
            ])
        }
    }
}
