import Analysis
import ArgumentParser
import Definitions
import HostAccess
import PCIModel
import QuirkDB

extension VFIOCtl {
    /// `vfioctl xml group:N|ADDRESS`: libvirt `<hostdev>` elements for every endpoint of a group.
    struct XMLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xml",
            abstract: "Print the libvirt <hostdev> elements that give a guest one IOMMU group.",
            discussion: reflow(
                """
                One <hostdev mode='subsystem' type='pci'> per endpoint of the group (bridges and
                ports of the group stay with the host and are named in a comment), to paste inside
                the domain's <devices>. group:N is the kernel's IOMMU group N (in a source without
                kernel groups, the predicted group pN of `vfioctl inspect`); an address means that
                function's group. A blocked group is refused with its reasons unless --force;
                caveats and quirks become XML comments.

                Managed policy (--managed): auto, the default, writes managed='no' for a function
                that is VFIO-owned now (bound at boot by `vfioctl apply`, so libvirt leaves it
                bound when the guest stops) and managed='yes' for the others (libvirt moves them
                to vfio-pci at start, back at stop). The hook refuses an unmanaged hostdev that is
                not VFIO-owned (unless hook.toml has bind-unmanaged = true), so auto never writes
                one. yes and no write that value for every function.

                Examples:
                  vfioctl xml group:14
                  vfioctl xml 0000:04:00.0 --snapshot seed-host.tar.gz
                  vfioctl xml 04:00.0 --managed no --guest-bus 0 --guest-slot 0x10
                  vfioctl xml group:14 > hostdevs.xml   # then paste into <devices> (virsh edit)
                """))

        @OptionGroup var source: SourceOptions

        @Argument(
            help: ArgumentHelp("group:N, or a function (DDDD:BB:DD.F or BB:DD.F) for its group.", valueName: "target"))
        var target: String

        @Option(
            name: .long,
            help: ArgumentHelp("managed= of each hostdev: yes, no or auto (see above).", valueName: "policy"))
        var managed: ManagedPolicy = .auto

        @Flag(name: .long, help: "Write the hostdevs of a blocked group too (its reasons as comments).")
        var force = false

        @Option(
            name: .customLong("guest-bus"),
            help: ArgumentHelp("Give each hostdev a guest PCI address on this guest bus (0-255).", valueName: "bus"),
            transform: Self.number)
        var guestBus: Int?

        @Option(
            name: .customLong("guest-slot"),
            help: ArgumentHelp(
                "First guest slot with --guest-bus (0-31, default 0x10); one slot per card.", valueName: "slot"),
            transform: Self.number)
        var guestSlot: Int?

        func validate() throws {
            if DeviceTarget(target) == nil { throw ValidationError(DeviceTarget.problem(with: target)) }
            if let guestBus, !(0...255).contains(guestBus) {
                throw ValidationError("--guest-bus \(guestBus): a PCI bus number is 0 to 255")
            }
            if let guestSlot {
                guard guestBus != nil else { throw ValidationError("--guest-slot needs --guest-bus") }
                guard (0..<GuestPlacement.slotsPerBus).contains(guestSlot) else {
                    throw ValidationError("--guest-slot \(guestSlot): a PCI slot number is 0 to 31")
                }
            }
        }

        /// `16` or `0x10`.
        static func number(_ text: String) throws -> Int {
            let value = text.lowercased().hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
            guard let value else { throw ValidationError("\(text) is not a number (decimal, or hex with 0x)") }
            return value
        }

        func run() async throws {
            guard let target = DeviceTarget(target) else { throw CLIError(DeviceTarget.problem(with: target)) }
            // Nothing assessed up front: HostdevDefinitions assesses the group's endpoints.
            let (report, quirks, snapshot) = try source.unassessedReport()
            defer { withExtendedLifetime(snapshot) {} }
            let definitions: HostdevDefinitions
            do {
                definitions = try HostdevDefinitions(
                    report: report, quirks: quirks, target: target, managed: managed, force: force,
                    placement: guestBus.map { GuestPlacement(bus: $0, firstSlot: guestSlot ?? 0x10) })
            } catch {
                throw CLIError(error.message)
            }
            print(definitions.xml(), terminator: "")
        }
    }
}

extension ManagedPolicy: ExpressibleByArgument {}
