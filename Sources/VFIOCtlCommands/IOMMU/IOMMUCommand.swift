import Analysis
import ArgumentParser
import PCIModel

extension VFIOCtl {
    /// `vfioctl iommu`: each IOMMU unit, decoded, and whether it maps with large pages.
    struct IOMMUCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "iommu",
            abstract: "Show each IOMMU unit's capabilities and whether it can use 2M/1G pages.",
            discussion: """
                Decodes Intel VT-d cap/ecap (class/iommu/dmarN/intel-iommu): superpage sizes,
                address widths, caching mode, snoop control, pass-through, interrupt remapping;
                lists the functions behind each unit; reads intel_iommu=sp_off and iommu=pt.

                Examples:
                  vfioctl iommu
                  vfioctl iommu --json --snapshot host.tar.gz
                """)

        @OptionGroup var source: SourceOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let (model, snapshot) = try source.load()
            defer { withExtendedLifetime(snapshot) {} }
            let words = model.facts.commandLineWords
            let units = model.facts.iommuUnits
            if output.json {
                print(
                    JSON.object([
                        ("schemaVersion", .int(1)),
                        ("source", .string(model.source)),
                        (
                            "commandLine",
                            .object([
                                ("iommuPassThrough", .bool(words.contains("iommu=pt"))),
                                (
                                    "superpagesOff",
                                    .bool(words.contains { $0.hasPrefix("intel_iommu=") && $0.contains("sp_off") })
                                ),
                            ])
                        ),
                        ("units", .array(units.map { unitJSON($0, words: words) })),
                    ]).rendered(), terminator: "")
                return
            }
            if units.isEmpty {
                print(
                    "no IOMMU units in \(model.source): VT-d/AMD-Vi is off or absent (see `vfioctl inspect` host checks)"
                )
                return
            }
            for unit in units {
                print(unitText(unit, words: words), terminator: "")
            }
            print("command line: iommu=pt \(words.contains("iommu=pt") ? "set" : "not set")")
        }

        private func unitJSON(_ unit: IOMMUUnit, words: [String]) -> JSON {
            let verdict = LargePageVerdict(unit: unit, commandLine: words)
            var members: [(String, JSON)] = [
                ("name", .string(unit.name)), ("kind", .string(unit.kind.rawValue)),
                ("capability", .optional(unit.capability.map { hex($0, width: 1) })),
                ("extendedCapability", .optional(unit.extendedCapability.map { hex($0, width: 1) })),
            ]
            if let intel = unit.intel {
                members += [
                    ("superpages", .array(intel.superpageSizes.map { .string(IntelIOMMUCapability.sizeName($0)) })),
                    ("maximumGuestAddressWidth", .int(intel.maximumGuestAddressWidth)),
                    ("addressWidths", .array(intel.supportedAddressWidths.map(JSON.int))),
                    ("cachingMode", .bool(intel.cachingMode)), ("snoopControl", .bool(intel.snoopControl)),
                    ("passThrough", .bool(intel.passThrough)), ("interruptRemapping", .bool(intel.interruptRemapping)),
                ]
            }
            members += [
                ("devices", .array(unit.devices.map { .string($0.description) })),
                (
                    "largePages",
                    .object([
                        ("available", .bool(verdict.available)),
                        ("sizes", .array(verdict.sizes.map { .string(IntelIOMMUCapability.sizeName($0)) })),
                        ("reason", .string(verdict.reason)),
                    ])
                ),
            ]
            return .object(members)
        }

        private func unitText(_ unit: IOMMUUnit, words: [String]) -> String {
            let verdict = LargePageVerdict(unit: unit, commandLine: words)
            var lines = ["\(unit.name) (\(unit.kind.rawValue))"]
            if let intel = unit.intel {
                lines.append("  cap \(hex(intel.capability, width: 1)) ecap \(hex(intel.extendedCapability, width: 1))")
                let sizes = intel.superpageSizes.map(IntelIOMMUCapability.sizeName)
                lines.append(
                    "  superpages: \(sizes.isEmpty ? "none" : sizes.joined(separator: " "))  MGAW \(intel.maximumGuestAddressWidth) bits"
                        + "  page tables: \(intel.supportedAddressWidths.map { "\($0)-bit" }.joined(separator: " "))")
                let flag = { (on: Bool) in on ? "yes" : "no" }
                lines.append(
                    "  caching mode \(flag(intel.cachingMode))  snoop control \(flag(intel.snoopControl))  pass-through \(flag(intel.passThrough))  interrupt remapping \(flag(intel.interruptRemapping))"
                )
            }
            lines.append(
                "  \(unit.devices.count) functions behind it"
                    + (unit.devices.isEmpty
                        ? ""
                        : ": " + unit.devices.prefix(8).map(\.description).joined(separator: " ")
                            + (unit.devices.count > 8 ? " …" : "")))
            lines.append("  large pages: \(verdict.available ? "yes" : "no") — \(verdict.reason)")
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
