import Actions
import ArgumentParser
import HostAccess
import PCIModel

extension VFIOCtl {
    /// `vfioctl early-bind`: vfio-pci at boot, before the host driver.
    struct EarlyBind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "early-bind",
            abstract: "Bind functions to vfio-pci at boot, before their host driver probes them.",
            discussion: reflow(
                """
                Writes a udev rule that sets driver_override to vfio-pci when the function
                appears (/etc/udev/rules.d/40-vfioctl-early-bind.rules, as driverctl does) and
                `softdep HOST pre: vfio-pci` for a host driver that is a module
                (/etc/modprobe.d/vfioctl-early-bind.conf); --ids also writes `options vfio-pci
                ids=` when no other function shares the ids. An address takes its whole IOMMU
                group, as `vfioctl bind` does. Both files are vfioctl's alone, rewritten whole;
                removing the last entry deletes them. Journaled: `vfioctl recover` undoes a
                crash. Says when the initramfs must be rebuilt and checks the image.

                Examples:
                  vfioctl early-bind 0000:03:00.0 --dry-run
                  vfioctl early-bind group:12 --ids
                  vfioctl early-bind --list --json
                  vfioctl early-bind --remove 0000:03:00.0
                """))

        @Argument(
            help: "A device address (its whole group) or group:N; none lists what is configured.",
            completion: .pciTarget)
        var target: String?
        @Flag(help: "Remove the target's entries instead of adding them.") var remove = false
        @Flag(help: "List what is configured (the default without a target).") var list = false
        @Flag(help: "Also write `options vfio-pci ids=` (refused when another function shares the ids).")
        var ids = false
        @Flag(help: "Early-bind even a function the host runs on (root disk, default route, boot display).")
        var force = false
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if target == nil, remove || ids { throw ValidationError("--remove and --ids need a target") }
            if target != nil, list { throw ValidationError("--list takes no target") }
        }

        func run() async throws {
            guard let target else {
                try listConfigured()
                return
            }
            let model = try SysfsHostReader(roots: action.roots).read(
                source: action.root.map { "root \($0)" } ?? "live host")
            let session = try action.session((remove ? "early-bind --remove " : "early-bind ") + target)
            let binder = EarlyBinder(session: session, model: model)
            let before = try binder.current()
            let named = try binder.functions(target, absentAllowed: remove)
            let functions =
                remove ? named.filter { address in before.entries.contains { $0.address == address } } : named
            let after =
                remove
                ? try binder.removing(named, from: before)
                : try binder.adding(functions, ids: ids, force: force, to: before)
            let changed = try session.run { _ in try binder.write(after) }
            let check = try EarlyBindInitramfs(
                roots: action.roots, configuration: after, changed: action.dryRun ? [] : changed)
            if output.json {
                print(
                    JSON.object([
                        ("dryRun", .bool(action.dryRun)), ("functions", .array(functions.map { .string("\($0)") })),
                        ("changedFiles", .array(changed.map { .string("/" + $0) })),
                        ("writes", .array(session.writer.writes.map { .string($0.description) })),
                        ("entries", .array(after.entries.map(Self.json))), ("initramfs", Self.json(check)),
                    ]).rendered(), terminator: "")
                return
            }
            if action.dryRun {
                print(
                    changed.isEmpty
                        ? "early-bind --dry-run: already so, nothing would change"
                        : "early-bind --dry-run: would make these changes (nothing was changed):")
                printDryRun(session)
            } else if changed.isEmpty {
                print("early-bind: already so, nothing changed")
            } else {
                for path in changed { print("wrote /\(path)") }
            }
            for line in check.advice { print(line) }
        }

        private func listConfigured() throws {
            let configuration = try EarlyBinder.current(roots: action.roots)
            let check = try EarlyBindInitramfs(roots: action.roots, configuration: configuration)
            if output.json {
                print(
                    JSON.object([
                        ("entries", .array(configuration.entries.map(Self.json))), ("initramfs", Self.json(check)),
                    ]).rendered(), terminator: "")
                return
            }
            if configuration.entries.isEmpty { print("no early binding configured") }
            for entry in configuration.entries {
                print(
                    "\(entry.address)  host driver \(entry.hostDriver ?? "unknown")"
                        + (entry.hostDriverIsModule ? " (module, softdep)" : "")
                        + (entry.ids.map { "  ids=\($0)" } ?? ""))
            }
            for line in check.advice { print(line) }
        }

        static func json(_ entry: EarlyBindEntry) -> JSON {
            .object([
                ("address", .string("\(entry.address)")), ("hostDriver", .optional(entry.hostDriver)),
                ("hostDriverIsModule", .bool(entry.hostDriverIsModule)), ("ids", .optional(entry.ids)),
            ])
        }

        static func json(_ check: EarlyBindInitramfs) -> JSON {
            .object([
                ("release", .optional(check.release)), ("image", .optional(check.image.map { "/" + $0 })),
                ("driversInImage", .array(check.driversInImage.map(JSON.string))),
                ("builtinDrivers", .array(check.builtinDrivers.map(JSON.string))),
                ("missingFromImage", .array(check.missing.map(JSON.string))),
                ("staleInImage", .array(check.stale.map(JSON.string))),
                ("changedSinceImage", .array(check.changedSinceImage.map(JSON.string))),
                ("needsRebuild", .bool(check.needsRebuild)),
                ("advice", .array(check.advice.map(JSON.string))),
            ])
        }
    }
}
