import Actions
import ArgumentParser
import HostAccess
import PCIModel

extension VFIOCtl {
    /// `vfioctl sriov …`
    struct SRIOVCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sriov", abstract: "Create and remove SR-IOV virtual functions.",
            subcommands: [SRIOVSet.self, SRIOVStatus.self, IGBReload.self])
    }

    struct SRIOVStatus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "A PF's VF counts and VFs.")
        @Argument(help: "The physical function.", completion: .pciAddress) var pf: PCIAddress
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let status = try SRIOVManager(roots: action.roots).status(pf)
            try printStatus(status, roots: action.roots, json: output.json, extra: [])
        }
    }

    /// `vfioctl sriov set PF COUNT`.
    struct SRIOVSet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a PF's number of VFs (through 0 when it changes), wait for them, report them.",
            discussion: reflow(
                """
                Refuses to remove VFs bound to vfio-pci or registered to a running guest unless
                --force. With --autoprobe off, new VFs get no driver; --bind vfio-pci binds each
                VF's IOMMU group afterwards.

                Examples:
                  vfioctl sriov set 0000:03:00.0 4 --autoprobe off --bind vfio-pci
                  vfioctl sriov set 0000:03:00.0 0 --dry-run
                """))

        @Argument(help: "The physical function.", completion: .pciAddress) var pf: PCIAddress
        @Argument(help: "How many VFs.") var count: Int
        @Option(help: "sriov_drivers_autoprobe: whether new VFs get a driver.") var autoprobe: AutoprobeSetting?
        @Option(help: ArgumentHelp("Bind each new VF's group to this driver.", valueName: "driver")) var bind: String?
        @Option(help: "Seconds to wait for the VFs.") var timeout: Double = 30
        @Flag(help: "Remove VFs even when bound to vfio-pci or given to a guest.") var force = false
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if count < 0 { throw ValidationError("COUNT must not be negative") }
        }

        func run() async throws {
            let session = try action.session("sriov \(pf) to \(count)")
            var manager = SRIOVManager(session: session)
            manager.timeoutSeconds = timeout
            let json = output.json
            let progress = ProgressLine(json: json)
            manager.progress = { present, expected in progress.update("\(pf): \(present)/\(expected) VFs") }
            defer { progress.finish() }
            let inUse = try guestDevices()
            var bound: [String] = []
            let status = try session.run { session in
                let status = try manager.set(
                    pf, count: count, autoprobe: autoprobe?.enabled, force: force, inUseByGuests: inUse)
                if let bind, count > 0, !session.dryRun {
                    let model = try SysfsHostReader(roots: action.roots).read(source: "host")
                    let binder = GroupBinder(session: session)
                    for group in Set(status.vfs.compactMap { model[$0]?.iommuGroup }).sorted() {
                        _ = try binder.bind(try binder.plan(group: group, target: bind, model: model, force: false))
                        bound.append("group \(group) bound to \(bind)")
                    }
                }
                return status
            }
            if action.dryRun {
                if json {
                    print(
                        JSON.object([
                            ("pf", .string(pf.description)), ("dryRun", .bool(true)),
                            ("writes", .array(session.writer.writes.map { .string($0.description) })),
                        ]).rendered(), terminator: "")
                } else {
                    printDryRun(session)
                }
                return
            }
            try printStatus(status, roots: action.roots, json: json, extra: bound)
        }

        /// Devices the hook registered to running guests.
        private func guestDevices() throws -> Set<PCIAddress> {
            let domains = StateDirectory(path: action.state.directory + "/domains")
            var result = Set<PCIAddress>()
            for name in try domains.list() { result.formUnion(try domains.registeredDevices(name)) }
            return result
        }
    }
}

/// VFs with their IOMMU groups and drivers, as text or JSON.
private func printStatus(_ status: SRIOVManager.Status, roots: HostRoots, json: Bool, extra: [String]) throws {
    let model = try SysfsHostReader(roots: roots).read(source: "host")
    if json {
        print(SRIOVReport.json(status, model: model, notes: extra).rendered(), terminator: "")
    } else {
        print(SRIOVReport.text(status, model: model, notes: extra), terminator: "")
    }
}

/// A PF's SR-IOV state with each VF's IOMMU group and driver, as `sriov set`, `sriov status`
/// and `sriov igb-reload` print it.
enum SRIOVReport {
    static func json(_ status: SRIOVManager.Status, model: HostModel, notes: [String] = []) -> JSON {
        .object([
            ("pf", .string(status.pf.description)), ("totalVFs", .int(status.total)),
            ("numVFs", .int(status.current)),
            ("autoprobe", status.autoprobe.map(JSON.bool) ?? .null),
            (
                "vfs",
                .array(
                    status.vfs.map { vf in
                        .object([
                            ("address", .string(vf.description)), ("iommuGroup", .optional(model[vf]?.iommuGroup)),
                            ("driver", .optional(model[vf]?.driver)),
                        ])
                    })
            ),
            ("notes", .array(notes.map(JSON.string))),
        ])
    }

    static func text(_ status: SRIOVManager.Status, model: HostModel, notes: [String] = []) -> String {
        var lines = [
            "\(status.pf): \(status.current) of \(status.total) VFs"
                + (status.autoprobe == false ? " (autoprobe off)" : "")
        ]
        for vf in status.vfs {
            let group = model[vf]?.iommuGroup.map { "group \($0)" } ?? "no group"
            lines.append("  \(vf)  \(group)  \(model[vf]?.driver ?? "no driver")")
        }
        lines += notes
        return lines.joined(separator: "\n") + "\n"
    }
}
