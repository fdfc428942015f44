import Actions
import ArgumentParser
import HostAccess
import PCIModel

extension VFIOCtl {
    /// `vfioctl reset-method ADDRESS METHOD…|default`: writes a function's `reset_method`.
    struct ResetMethodCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-method",
            abstract:
                "Choose which resets the kernel may use on a function, in order (sysfs reset_method, Linux 5.15+).",
            discussion: reflow(
                """
                Writes the methods, in the order to try them, to the function's reset_method;
                `default` lets the kernel probe every method again. Methods: device_specific acpi
                flr af_flr pm bus cxl_bus. The kernel probes each named method when the list is
                written, so a method an earlier write left out can be named again, and
                device_specific works once its module (vendor-reset) is loaded; an unsupported
                method fails with EINVAL and the kernel keeps the old list. The change is journalled: `vfioctl recover` puts
                the old list back after a crash. It lasts until the function is removed or the
                host reboots. `vfioctl inspect ADDRESS` shows the list and what a bus reset hits.

                Examples:
                  vfioctl reset-method 0000:0b:00.0 device_specific    # vendor-reset
                  vfioctl reset-method 0000:03:00.0 flr pm --dry-run
                  vfioctl reset-method 0000:03:00.0 default --json
                """))

        @Argument(help: "The PCI function.", completion: .pciAddress) var address: PCIAddress
        @Argument(help: ArgumentHelp("Reset methods in order of preference, or `default`.", valueName: "method"))
        var methods: [String] = []
        @OptionGroup var action: ActionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let setting: ResetMethodSetting
            do {
                setting = try ResetMethodSetting(address: address, words: methods)
            } catch {
                throw CLIError(error.description)
            }
            let session = try action.session("reset-method \(setting.address) \(setting.kernelText)")
            let change = try session.run { session in try ResetMethodChanger(session: session).apply(setting) }
            if output.json {
                print(ResetMethodReport.json(change, session: session).rendered(), terminator: "")
            } else if session.dryRun {
                printDryRun(session)
            } else {
                print(ResetMethodReport.text(change), terminator: "")
            }
        }
    }
}

/// What `reset-method` prints.
enum ResetMethodReport {
    static func names(_ methods: [ResetMethod]) -> [String] { methods.map(\.rawValue) }

    static func json(_ change: ResetMethodChanger.Change, session: HostSession) -> JSON {
        .object([
            ("address", .string(change.setting.address.description)),
            ("requested", .string(change.setting.kernelText)),
            ("before", .array(names(change.before).map(JSON.string))),
            ("after", change.after.map { .array(names($0).map(JSON.string)) } ?? .null),
            ("dryRun", .bool(session.dryRun)),
            ("writes", .array(session.writer.writes.map { .string($0.description) })),
        ])
    }

    static func text(_ change: ResetMethodChanger.Change) -> String {
        func list(_ methods: [ResetMethod]) -> String {
            methods.isEmpty ? "none" : names(methods).joined(separator: " ")
        }
        return "\(change.setting.address): reset_method \(list(change.before)) → \(change.after.map(list) ?? "?")\n"
    }
}
