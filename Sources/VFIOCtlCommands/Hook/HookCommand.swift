import Actions
import Analysis
import ArgumentParser
import DomainXML
import GuestCheck
import HostAccess
import PCIModel
import QuirkDB

#if canImport(Glibc)
    import Glibc
#endif

extension VFIOCtl {
    /// `vfioctl hook …`
    struct HookCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hook", abstract: "Hooks other programs call.", subcommands: [HookLibvirt.self])
    }

    /// `vfioctl hook libvirt DOMAIN OPERATION SUBOPERATION [EXTRA]`, the domain XML on stdin:
    /// what `/etc/libvirt/hooks/qemu.d/vfioctl` runs. Never calls back into libvirt.
    struct HookLibvirt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "libvirt",
            abstract: "The libvirt qemu hook: refuse unsafe starts, prepare the host, restore it on release.",
            discussion: reflow(
                """
                On `prepare begin` it checks every PCI <hostdev> and <interface type='hostdev'>
                (device exists, IOMMU group viable with this guest's other hostdevs, ACS, reset,
                host dependencies, quirks in this guest's context, slot limits, hugepages),
                prints one line per problem and exits 1 to stop the start. It then reserves
                hugepages when configured and registers the guest's devices for release and
                vfio-aerd. `release end` undoes it. Other operations are logged only.
                Configuration: /etc/vfioctl/hook.toml (see Docs/manual.md).

                Example (what libvirt runs):
                  vfioctl hook libvirt win2k8 prepare begin - < /etc/libvirt/qemu/win2k8.xml
                """))

        @Option(help: "Configuration file.") var config: String = HookConfig.defaultPath
        @Argument(help: "Domain name.") var domain: String
        @Argument(help: "Operation (prepare, start, started, stopped, release, …).") var operation: String
        @Argument(help: "Sub-operation (begin, end, …).") var suboperation: String
        @Argument(help: "Extra argument (unused).") var extra: String?

        func run() async throws {
            // The name becomes a file name under the state directory: check it before anything
            // (the log included) is written.
            do {
                try DomainName.check(domain)
            } catch {
                throw refusal(["refuse: \(error); nothing was changed"])
            }
            let settings = try HookConfig.load(config)
            log(settings, "\(domain) \(operation) \(suboperation)")
            switch (operation, suboperation) {
            case ("prepare", "begin"):
                try prepare(settings, xml: readStandardInput())
            case ("release", "end"):
                try release(settings)
            default:
                return
            }
        }

        private func prepare(_ settings: HookConfig, xml: [UInt8]) throws {
            let definition: LibvirtDomain
            do {
                definition = try LibvirtDomain(bytes: xml)
            } catch {
                throw refusal(["refuse: \(error); nothing was changed"])
            }
            // A guest with nothing to check or prepare does not even open the host's snapshot.
            guard !definition.hostdevs.isEmpty || definition.hugepages != nil else { return }
            var expectedGroups: [GroupExpectation] = []
            if let path = settings.desiredState, !definition.hostdevs.isEmpty {
                do {
                    expectedGroups = try DesiredStateFile.parse(path: path).expectedGroups
                } catch {
                    throw refusal([
                        "refuse: desired-state \(path) (hook.toml) cannot be read: \(error); nothing was changed"
                    ])
                }
            }
            let (roots, snapshot) = try hostRoots(settings)
            defer { withExtendedLifetime(snapshot) {} }
            var start = guestStart(settings, roots: roots)
            start.options.expectedGroups = expectedGroups
            do {
                for finding in try start.prepare(definition) where finding.level != .refuse {
                    StandardError.write("vfioctl: \(domain): \(finding)\n")
                }
            } catch {
                throw refusal(error.lines)
            }
        }

        private func release(_ settings: HookConfig) throws {
            // A guest the hook never registered has nothing to undo.
            guard try StateDirectory(path: settings.stateDirectory + "/domains").read(domain) != nil else { return }
            let (roots, snapshot) = try hostRoots(settings)
            defer { withExtendedLifetime(snapshot) {} }
            for failure in try guestStart(settings, roots: roots).release() {
                StandardError.write("vfioctl: \(domain): could not undo \(failure)\n")
            }
        }

        private func guestStart(_ settings: HookConfig, roots: HostRoots) -> GuestStart {
            GuestStart(
                domain: domain, roots: roots, state: ActionState(directory: settings.stateDirectory),
                options: .init(
                    createVFs: settings.createVFs, bindUnmanaged: settings.bindUnmanaged, hugepages: settings.hugepages,
                    busReset: settings.busReset),
                quirkDatabase: { try loadQuirkDatabase(base: roots) })
        }

        private func hostRoots(_ settings: HookConfig) throws -> (HostRoots, OpenedSnapshot?) {
            if let snapshot = settings.snapshot {
                let opened = try Snapshot.open(snapshot)
                return (opened.roots, opened)
            }
            return (settings.root.map { HostRoots(path: $0) } ?? .live, nil)
        }

        private func refusal(_ lines: [String]) -> CLIError {
            CLIError("vfioctl refuses to start \(domain):\n" + lines.map { "  " + $0 }.joined(separator: "\n"))
        }

        private func log(_ settings: HookConfig, _ line: String) {
            guard let path = settings.log else { return }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return }
            defer { close(fd) }
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, bytes.count) }
        }

        /// The domain XML from stdin, at most one byte more than
        /// `DomainXMLLimits.maximumDocumentBytes` (enough for the parser to refuse it).
        private func readStandardInput() -> [UInt8] {
            let limit = DomainXMLLimits.maximumDocumentBytes + 1
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while result.count < limit {
                let want = min(buffer.count, limit - result.count)
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, want) }
                if n > 0 { result += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
            }
            return result
        }
    }
}
