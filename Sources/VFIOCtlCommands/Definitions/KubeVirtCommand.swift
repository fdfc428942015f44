import Analysis
import ArgumentParser
import Definitions
import HostAccess
import PCIModel
import QuirkDB

extension KubeVirtDevices.NameSource: ExpressibleByArgument {}

extension VFIOCtl {
    /// `vfioctl kubevirt`: the KubeVirt CR's `permittedHostDevices.pciHostDevices` entries.
    struct KubeVirtCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kubevirt",
            abstract: "Print KubeVirt permittedHostDevices entries for the host's assignable device models.",
            discussion: reflow(
                """
                One pciHostDevices entry (pciVendorSelector "vvvv:dddd", resourceName
                "<vendor-domain>/<NAME>_DDDD") per device model with at least one function that
                is alone in its IOMMU group and not blocked: KubeVirt gives a VM one function at a
                time, never a whole group. Comments name the functions behind each entry, the
                functions of the same model to keep off vfio-pci, and the models left out, with
                why. YAML for spec.configuration of the KubeVirt CR, or --json (schema:
                Docs/json-schema.md).

                The NAME comes from this machine's pci.ids, which hwdata updates can change; the CR
                is cluster-wide, so generate it on one machine, or give --resource-names ids for
                names from the ids alone (PCI_VVVV_DDDD), the same whatever pci.ids says.

                Examples:
                  vfioctl kubevirt
                  vfioctl kubevirt --resource-names ids     # the same names on every host
                  vfioctl kubevirt --snapshot node7.tar.gz > permitted.yaml
                  vfioctl kubevirt --json | jq -r '.pciHostDevices[].resourceName'
                """))

        @OptionGroup var source: SourceOptions
        @OptionGroup var output: OutputOptions

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Resource names from pci.ids (pci-ids, readable) or from the ids alone (ids, stable).",
                valueName: "kind"))
        var resourceNames: KubeVirtDevices.NameSource = .pciIDs

        func run() async throws {
            let (report, _, snapshot) = try source.unassessedReport()
            defer { withExtendedLifetime(snapshot) {} }
            let devices = KubeVirtDevices(report: report, names: resourceNames)
            print(output.json ? Self.json(devices).rendered() : devices.yaml(), terminator: "")
        }

        /// `kubevirt --json`, schema version 1 (Docs/json-schema.md).
        static func json(_ devices: KubeVirtDevices) -> JSON {
            func functions(_ list: [(address: PCIAddress, why: String)]) -> JSON {
                .array(list.map { .object([("address", .string($0.address.description)), ("why", .string($0.why))]) })
            }
            return .object([
                ("schemaVersion", .int(1)),
                ("tool", .string("vfioctl \(VFIOCtl.version)")),
                ("source", .string(devices.source)),
                (
                    "pciHostDevices",
                    .array(
                        devices.entries.map { entry in
                            .object([
                                ("pciVendorSelector", .string(entry.pciVendorSelector)),
                                ("resourceName", .string(entry.resourceName.description)),
                                ("name", .optional(entry.name)),
                                (
                                    "functions",
                                    .array(
                                        entry.functions.map { function in
                                            .object([
                                                ("address", .string(function.address.description)),
                                                ("group", .int(function.group.number)),
                                                ("groupKind", .string(function.group.kind)),
                                                ("verdict", .string(function.verdict.rawValue)),
                                            ])
                                        })
                                ),
                                ("excluded", functions(entry.excluded)),
                            ])
                        })
                ),
                (
                    "skipped",
                    .array(
                        devices.skipped.map { model in
                            .object([
                                ("pciVendorSelector", .string(model.pciVendorSelector)),
                                ("name", .optional(model.name)),
                                ("functions", functions(model.functions)),
                            ])
                        })
                ),
            ])
        }
    }
}
