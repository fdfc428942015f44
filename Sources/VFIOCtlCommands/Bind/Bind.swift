import Actions
import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension VFIOCtl {
    /// `vfioctl bind`: a whole IOMMU group to vfio-pci.
    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind every endpoint of an IOMMU group to vfio-pci, transactionally.",
            discussion: reflow(
                """
                Each endpoint gets driver_override, is unbound from its driver and re-probed;
                bridges stay on pcieport. The prior drivers are journaled before the first write
                and recorded for `vfioctl restore`; a failure puts every function back. Refuses a
                group holding the root disk, the default-route NIC or the boot VGA unless --force.
                Waits for /dev/vfio/N and checks that the group is viable.

                Examples:
                  vfioctl bind 0000:04:00.0 --dry-run
                  vfioctl bind group:12
                  vfioctl bind group:14 --driver mlx5_vfio_pci
                  vfioctl restore group:12
                """))

        @Argument(help: "A device address (its whole group is bound) or group:N.", completion: .pciTarget)
        var target: String
        @Option(
            help:
                "The VFIO driver: vfio-pci or a vfio-pci variant (mlx5_vfio_pci, …); a function counts as bound once the kernel made its vfio-dev/vfioN."
        ) var driver: String = "vfio-pci"
        @Flag(help: "Bind even a group the host depends on.") var force = false
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            // The name is written to driver_override and handed to libkmod: a driver's name only.
            guard ModuleName.isValid(driver) else {
                throw ValidationError(
                    "--driver \(driver.debugDescription) is not a driver name (letters, digits, _ and -, at most 55)")
            }
        }

        func run() async throws {
            let model = try SysfsHostReader(roots: action.roots).read(
                source: action.root.map { "root \($0)" } ?? "live host")
            let group = try groupNumber(for: target, in: model)
            let session = try action.session("bind group \(group) \(driver)")
            let binder = GroupBinder(session: session)
            let plan = try binder.plan(group: group, target: driver, model: model, force: force)
            let outcome = try session.run { _ in try binder.bind(plan) }
            let viable = action.dryRun ? nil : vfioGroupIsViable(group: group, dev: action.roots.dev)
            if output.json {
                print(
                    JSON.object([
                        ("group", .int(group)), ("driver", .string(driver)), ("dryRun", .bool(action.dryRun)),
                        (
                            "changed",
                            .array(
                                plan.changes.map {
                                    .object([
                                        ("address", .string($0.address.description)), ("from", .optional($0.driver)),
                                    ])
                                })
                        ),
                        ("modules", .array(session.notes.map { .string($0) })),
                        ("writes", .array(outcome.writes.map { .string($0.description) })),
                        ("vfioDevice", .optional(outcome.vfioDevice)), ("viable", viable.map(JSON.bool) ?? .null),
                    ]).rendered(), terminator: "")
                return
            }
            if action.dryRun {
                printDryRun(session)
                return
            }
            for note in session.notes { print(note) }
            if plan.changes.isEmpty { print("group \(group): every endpoint is already on \(driver)") }
            for change in plan.changes { print("\(change.address): \(change.driver ?? "no driver") → \(driver)") }
            if let device = outcome.vfioDevice {
                print(
                    "\(device) is ready"
                        + (viable.map { $0 ? "; the group is viable" : "; the group is NOT viable" } ?? ""))
            } else {
                print("warning: /dev/vfio/\(group) did not appear within 5 s (is \(driver) loaded?)")
            }
        }
    }

    /// `vfioctl restore`: give a group its drivers back.
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Return every function of an IOMMU group to the driver it had before `vfioctl bind`.",
            discussion: reflow(
                """
                Examples:
                  vfioctl restore 0000:04:00.0
                  vfioctl restore group:12 --dry-run
                """))

        @Argument(help: "A device address or group:N.", completion: .pciTarget) var target: String
        @OptionGroup var action: ActionOptions

        func run() async throws {
            let model = try SysfsHostReader(roots: action.roots).read(source: "host")
            let group = try groupNumber(for: target, in: model)
            let session = try action.session("restore group \(group)")
            _ = try session.run { session in try GroupBinder(session: session).restore(group: group, model: model) }
            if action.dryRun {
                printDryRun(session)
                return
            }
            let after = try SysfsHostReader(roots: action.roots).read(source: "host")
            for address in after.kernelGroups?[group]?.sorted() ?? [] {
                guard let device = after[address], !device.isBridge else { continue }
                print("\(address): \(device.driver ?? "no driver")")
            }
        }
    }

    /// `vfioctl recover`: finish what a crashed action left.
    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "After a crash mid-action, put the host back to the state before the action.",
            discussion: reflow(
                """
                Replays every unfinished journal in /run/vfioctl/journals (or --state-dir), newest
                first: each function gets its prior driver and driver_override back, each PF its VF
                count, each hugepage pool its size; files the action created go. A journal is
                removed only when everything in it was undone. Every other action refuses to run
                while a journal is left. --dry-run prints the writes and changes nothing.

                Examples:
                  vfioctl recover --dry-run
                  vfioctl recover
                """))

        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let recovery = try Recovery(roots: action.roots, state: action.state, dryRun: action.dryRun)
            let replayed = try recovery.run()
            if output.json {
                print(
                    JSON.object([
                        ("dryRun", .bool(action.dryRun)),
                        (
                            "journals",
                            .array(
                                replayed.map { journal in
                                    .object([
                                        ("path", .string(journal.journal.string)), ("action", .string(journal.action)),
                                        ("records", .array(journal.records.map { .string($0.line) })),
                                        ("failures", .array(journal.failures.map { .string($0) })),
                                    ])
                                })
                        ),
                        ("writes", .array(recovery.session.writer.writes.map { .string($0.description) })),
                    ]).rendered(), terminator: "")
            } else if replayed.isEmpty {
                print("nothing to recover: no unfinished journal in \(action.state.journalDirectory)")
            } else if action.dryRun {
                for journal in replayed { print("# would undo the interrupted \(journal.action) (\(journal.journal))") }
                printDryRun(recovery.session)
            } else {
                for journal in replayed {
                    print("recovered from an interrupted \(journal.action):")
                    for record in journal.records.reversed() { print("  undone: \(record.line)") }
                }
            }
            let failures = replayed.flatMap(\.failures)
            if !failures.isEmpty {
                throw CLIError(
                    "could not undo everything:\n" + failures.map { "  " + $0 }.joined(separator: "\n")
                        + "\nthe journal is kept; fix the cause and run `vfioctl recover` again")
            }
        }
    }
}
