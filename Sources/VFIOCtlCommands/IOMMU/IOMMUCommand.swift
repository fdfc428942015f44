import Analysis
import ArgumentParser
import PCIModel

extension VFIOCtl {
    /// `vfioctl iommu`: each IOMMU unit, decoded, and whether it maps with large pages.
    struct IOMMUCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "iommu",
            abstract: "Show each IOMMU unit's capabilities and whether it can use 2M/1G pages.",
            discussion: reflow(
                """
                Decodes Intel VT-d cap/ecap (class/iommu/dmarN/intel-iommu): superpage sizes,
                address widths, caching mode, snoop control, pass-through, interrupt remapping.
                Decodes AMD-Vi cap and features (class/iommu/ivhdN/amd-iommu: capability header,
                EFR:EFR2): feature names, page-table levels, v2 support; the format in use
                follows amd_iommu=pgtbl_v2. Says what sysfs could not tell. Lists the functions
                behind each unit; reads intel_iommu=sp_off and iommu=pt.

                Examples:
                  vfioctl iommu
                  vfioctl iommu --json --snapshot host.tar.gz
                """))

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
            if let amd = unit.amd {
                members += [
                    ("extendedCapability2", .optional(amd.extendedFeatures2.map { hex($0, width: 1) })),
                    ("features", .array(amd.featureNames.map(JSON.string))),
                    ("hostPageTableLevels", .optional(amd.hostPageTableLevels)),
                    ("guestPageTables", .bool(amd.guestTranslation)),
                    ("pageTableFormat", .string(AMDPageTableFormat(commandLine: words, unit: amd).rawValue)),
                    (
                        "pageSizes",
                        amd.pageSizes.map { .array($0.map { .string(IntelIOMMUCapability.sizeName($0)) }) } ?? .null
                    ),
                ]
            }
            members += [
                ("notRead", .array(Self.notRead(unit, words: words).map(JSON.string))),
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

        /// What sysfs could not tell about the unit, each with where the answer is instead.
        static func notRead(_ unit: IOMMUUnit, words: [String]) -> [String] {
            switch unit.kind {
            case .intel:
                return unit.intel == nil ? ["intel-iommu/cap or ecap: superpages and features unknown"] : []
            case .amd:
                guard let amd = unit.amd else { return ["amd-iommu/cap: the unit's features are unknown"] }
                var missing = [
                    "the page-table format in use: sysfs does not show it; \(AMDPageTableFormat(commandLine: words, unit: amd).why)",
                    "whether VFIO's domains map with those sizes (iova_pgsizes): run vfioctl dma-check on a vfio-bound group",
                ]
                if amd.extendedFeatures == nil {
                    missing.insert("amd-iommu/features (EFR): page-table levels and features unknown", at: 0)
                }
                return missing
            case .other:
                return ["neither intel-iommu/ nor amd-iommu/ under class/iommu/\(unit.name)"]
            }
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
            if let amd = unit.amd {
                lines.append(
                    "  cap \(hex(amd.capabilityHeader, width: 1)) features \(amd.extendedFeatures.map { hex($0, width: 1) } ?? "unknown")"
                        + (amd.featureNames.isEmpty ? "" : " (" + amd.featureNames.joined(separator: " ") + ")"))
                let levels = amd.hostPageTableLevels.map { "\($0)-level" } ?? "unknown"
                let format = AMDPageTableFormat(commandLine: words, unit: amd)
                let sizes = amd.pageSizes?.map(IntelIOMMUCapability.sizeName).joined(separator: " ") ?? "unknown"
                lines.append(
                    "  host page tables: \(levels)  guest (v2) page tables: \(amd.guestTranslation ? "yes" : "no")  in use: \(format.rawValue)  their page sizes: \(sizes)"
                )
            }
            for missing in Self.notRead(unit, words: words) { lines.append("  not read: \(missing)") }
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
