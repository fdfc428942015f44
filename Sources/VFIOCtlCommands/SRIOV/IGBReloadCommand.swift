import Actions
import Analysis
import ArgumentParser
import HostAccess
import PCIModel
import QuirkDB

extension VFIOCtl {
    /// `vfioctl sriov igb-reload`: reload igb with max_vfs, safely on the seed's hardware.
    struct IGBReload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "igb-reload",
            abstract: "Reload igb (82576) with max_vfs, in the plain or the IDT-workaround sequence.",
            discussion: reflow(
                """
                idt-workaround is seed 000's sequence for 82576s behind an IDT PES12N3A on X58 root
                port 3, where a direct reload with max_vfs=8 and an AER error hangs the host:
                rmmod igb; modprobe igb max_vfs=1; rmmod igbvf; rmmod igb; modprobe igb max_vfs=N.
                auto picks it when that quirk matches a device on this host. N above 7 is
                clamped (igb keeps one pool for the PF). Each step is printed; a failed step stops
                and leaves igb loaded. Afterwards every PF on igb is listed with its VFs and their
                IOMMU groups. Needs root; acts on the running kernel only.

                Examples:
                  vfioctl sriov igb-reload --max-vfs 7 --dry-run
                  vfioctl sriov igb-reload --max-vfs 8 --sequence auto
                """))

        @Option(name: .customLong("max-vfs"), help: "VFs per PF.") var maxVFs: Int
        @Option(help: "The reload sequence; auto picks the one a matching quirk names.")
        var sequence: IGBSequenceChoice = .auto
        @Flag(name: .customLong("dry-run"), help: "Print the steps and do nothing.") var dryRun = false
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard maxVFs >= 0 else { throw ValidationError("--max-vfs must not be negative") }
        }

        func run() async throws {
            let chosen: IGBReloadSequence
            var why = "chosen on the command line"
            if let explicit = sequence.explicit {
                chosen = explicit
            } else {
                (chosen, why) = try automaticSequence()
            }
            let reload = Actions.IGBReload(maxVFs: maxVFs, sequence: chosen)
            let total = reload.steps.count
            if !output.json {
                print("sequence \(chosen.rawValue) (\(why))")
                if let note = reload.clampNote { print(note) }
            }
            var results: [Actions.IGBReload.StepResult] = []
            // A failed step is reported with the state it left, then rethrown for the exit code.
            var failure: (any Error)?
            if dryRun {
                if !output.json {
                    for (index, step) in reload.steps.enumerated() { print("[\(index + 1)/\(total)] \(step)") }
                }
            } else {
                let session = try HostSession(
                    roots: .live, state: ActionState(directory: "/run/vfioctl"), action: "igb-reload max_vfs=\(maxVFs)",
                    dryRun: false)
                let modules = try session.modules()
                let json = output.json
                do {
                    try session.run { session in
                        // A crash between rmmod and modprobe leaves no igb: recovery loads it again.
                        try session.journal(.module("igb"))
                        try reload.run(modules: modules) { result in
                            results.append(result)
                            if !json {
                                print(
                                    "[\(results.count)/\(total)] \(result.step): \(result.outcome) (\(Int(result.milliseconds)) ms)"
                                )
                            }
                        }
                    }
                } catch {
                    failure = error
                }
            }
            // What igb made of it: every PF it drives, with its VFs and their groups.
            let model = try SysfsHostReader(roots: .live).read(source: "live host")
            let manager = SRIOVManager(roots: .live)
            let pfs = try model.devices.filter { $0.driver == "igb" && $0.config.sriov != nil }.map {
                try manager.status($0.address)
            }
            if output.json {
                print(
                    JSON.object([
                        ("sequence", .string(chosen.rawValue)), ("why", .string(why)),
                        ("requestedVFs", .int(reload.requestedVFs)), ("maxVFs", .int(reload.maxVFs)),
                        ("clamp", .optional(reload.clampNote)), ("dryRun", .bool(dryRun)),
                        (
                            "steps",
                            .array(
                                reload.steps.enumerated().map { index, step in
                                    let result = index < results.count ? results[index] : nil
                                    return .object([
                                        ("step", .string(step.description)),
                                        ("outcome", .optional(result?.outcome)),
                                        ("milliseconds", .optional(result.map { Int($0.milliseconds) })),
                                    ])
                                })
                        ),
                        ("pfs", .array(pfs.map { SRIOVReport.json($0, model: model) })),
                        ("error", .optional(failure.map { "\($0)" })),
                    ]).rendered(), terminator: "")
                if let failure { throw failure }
                return
            }
            if pfs.isEmpty {
                print(
                    "no SR-IOV function is on igb\(dryRun ? "" : " after the reload"): no 82576 (or igb failed to probe it)"
                )
            }
            for status in pfs { print(SRIOVReport.text(status, model: model), terminator: "") }
            if let failure { throw failure }
        }

        /// idt-workaround when the seed's quirk matches a function on this host.
        private func automaticSequence() throws -> (IGBReloadSequence, String) {
            let model = try SysfsHostReader(roots: .live).read(source: "live host")
            let database = try loadQuirkDatabase(base: .live)
            let policy = ACSPolicy(quirk: database.acsQuirk(for: model))
            for device in model.devices {
                for match in database.matches(for: device, in: model, policy: policy) {
                    if case .sriovSequence(let name) = match.quirk.effect,
                        let sequence = IGBReloadSequence(rawValue: name)
                    {
                        return (sequence, "quirk \(match.quirk.id) matches \(device.address)")
                    }
                }
            }
            return (.plain, "no quirk asks for another")
        }
    }
}

typealias IGBReloadSequence = Actions.IGBReload.Sequence
