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
            discussion: """
                On `prepare begin` it checks every PCI <hostdev> and <interface type='hostdev'>
                (device exists, IOMMU group viable with this guest's other hostdevs, ACS, reset,
                host dependencies, quirks in this guest's context, slot limits, hugepages),
                prints one line per problem and exits 1 to stop the start. It then reserves
                hugepages when configured and registers the guest's devices for release and
                vfio-aerd. `release end` undoes it. Other operations are logged only.
                Configuration: /etc/vfioctl/hook.toml (see Docs/manual.md).

                Example (what libvirt runs):
                  vfioctl hook libvirt win2k8 prepare begin - < /etc/libvirt/qemu/win2k8.xml
                """)

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
            let state = StateDirectory(path: settings.stateDirectory + "/domains")
            switch (operation, suboperation) {
            case ("prepare", "begin"):
                try prepare(settings, state: state, xml: readStandardInput())
            case ("release", "end"):
                try release(settings, state: state)
            default:
                return
            }
        }

        private func prepare(_ settings: HookConfig, state: StateDirectory, xml: [UInt8]) throws {
            let definition: LibvirtDomain
            do {
                definition = try LibvirtDomain(bytes: xml)
            } catch {
                throw refusal(["refuse: \(error); nothing was changed"])
            }
            guard !definition.hostdevs.isEmpty || definition.hugepages != nil else { return }
            let (roots, snapshot) = try hostRoots(settings)
            defer { withExtendedLifetime(snapshot) {} }
            let actionState = ActionState(directory: settings.stateDirectory)
            let session: HostSession
            do {
                session = try HostSession(
                    roots: roots, state: actionState, action: "hook prepare \(domain)", dryRun: false)
            } catch {
                throw refusal(["refuse: \(error); nothing was changed"])
            }
            // Everything below is one host transaction: a refusal or an error undoes every
            // change it made (VFs, bindings, hugepages, the registration), a crash leaves its
            // journal for `vfioctl recover`.
            do {
                try prepareHost(settings, definition: definition, roots: roots, state: state, session: session)
                session.complete()
            } catch {
                let changed = !session.journaled.isEmpty
                let failures = session.undoAll()
                let undone =
                    !changed
                    ? "nothing was changed"
                    : failures.isEmpty
                        ? "what was changed is undone"
                        : "undoing what was changed failed (\(failures.joined(separator: "; "))): run `vfioctl recover`"
                if let refused = error as? HookRefusal {
                    throw refusal(refused.lines + ["(\(undone))"])
                }
                throw refusal(["refuse: preparing the host failed: \(error); \(undone)"])
            }
        }

        private func prepareHost(
            _ settings: HookConfig, definition: LibvirtDomain, roots: HostRoots, state: StateDirectory,
            session: HostSession
        ) throws {
            var model = try SysfsHostReader(roots: roots).read(source: "hook")
            var preparation = GuestPreparation(session: session)
            preparation.timeoutSeconds = 30
            var changes: [String] = []
            if settings.createVFs {
                changes += try preparation.createVFs(
                    for: definition.hostdevs.map(\.address), model: model,
                    inUse: Set(try otherGuestDevices(state).values.joined()))
            }
            if settings.bindUnmanaged {
                let unmanaged = definition.hostdevs.filter { !$0.managed }.map(\.address)
                if settings.createVFs && !changes.isEmpty {
                    model = try SysfsHostReader(roots: roots).read(source: "hook")
                }
                changes += try preparation.bindGroups(of: unmanaged, model: model)
            }
            if !changes.isEmpty { model = try SysfsHostReader(roots: roots).read(source: "hook") }
            let database = try loadQuirkDatabase(base: roots)
            let quirks = QuirkEvaluation(database: database, model: model)
            let report = InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons)
            let others = try otherGuestDevices(state)
            let hugepages = Hugepages(roots: roots)
            var records = definition.hostdevs.map { "device \($0.address)" } + changes
            var supply = HugepageSupply()
            for pool in (try? hugepages.pools()) ?? [] {
                let counts = HugepageSupply.Pool(total: pool.total, free: pool.free)
                if let node = pool.node {
                    supply.perNode[pool.sizeKiB, default: [:]][node] = counts
                } else {
                    supply.hostWide[pool.sizeKiB] = counts
                }
            }
            if settings.hugepages == .reserve {
                let (reserved, pools) = try reserve(definition.hugepagesNeeded, session: session)
                records += reserved
                // New pages start free; counting them here does not depend on when the
                // kernel updates free_hugepages. Which node the kernel took them from is not
                // known, so those sizes are not checked per node.
                for pool in pools {
                    supply.hostWide[pool.sizeKiB] = HugepageSupply.Pool(total: pool.total, free: pool.free)
                    supply.perNode[pool.sizeKiB] = nil
                }
            }
            let assessment = GuestAssessment(
                domain: definition, report: report, quirks: database, policy: quirks.policy, otherDomains: others,
                hugepages: settings.hugepages == .ignore ? nil : supply)
            let findings = assessment.findings
            for finding in findings where finding.level != .refuse {
                StandardError.write("vfioctl: \(domain): \(finding)\n")
            }
            let refusals = findings.filter { $0.level == .refuse }
            if !refusals.isEmpty { throw HookRefusal(lines: refusals.map(\.description)) }
            try session.journal(.stateFile("domains/\(domain)"))
            try state.write(domain, lines: records)
        }

        /// Grows each host-wide pool the guest needs (page size in KiB → pages) by what is
        /// missing, remembering the old size. Returns the records for release and the pools
        /// with their free pages as the growth leaves them.
        /// Each growth is journaled in the session, so a refusal or a failure undoes all of them.
        private func reserve(_ needed: [Int: Int], session: HostSession) throws -> ([String], [HugepagePool]) {
            var records: [String] = []
            var pools: [HugepagePool] = []
            for (kib, pages) in needed.sorted(by: { $0.key < $1.key }) {
                let pool = try Hugepages(roots: session.roots).read(HugepagePool(sizeKiB: kib, node: nil))
                guard pool.free < pages else { continue }
                let (target, overflow) = pool.total.addingReportingOverflow(pages - pool.free)
                guard !overflow else { continue }  // the check refuses a need this large
                var after = try session.resizeHugepages(pool, to: target)
                after.free = pool.free + max(0, after.total - pool.total)
                records.append("hugepages \(kib) \(pool.total) \(after.total)")
                pools.append(after)
            }
            return (records, pools)
        }

        private func release(_ settings: HookConfig, state: StateDirectory) throws {
            guard let records = try state.read(domain) else { return }
            let (roots, snapshot) = try hostRoots(settings)
            defer { withExtendedLifetime(snapshot) {} }
            let session = try HostSession(
                roots: roots, state: ActionState(directory: settings.stateDirectory), action: "hook release \(domain)",
                dryRun: false)
            let failures = GuestPreparation(session: session).undo(records)
            for failure in failures { StandardError.write("vfioctl: \(domain): could not undo \(failure)\n") }
            state.remove(domain)
            session.complete()
        }

        /// Devices other running guests registered.
        private func otherGuestDevices(_ state: StateDirectory) throws -> [String: [PCIAddress]] {
            var others: [String: [PCIAddress]] = [:]
            for name in try state.list() where name != domain {
                others[name] = (try state.read(name) ?? []).compactMap { line in
                    line.hasPrefix("device ") ? PCIAddress(line.dropFirst("device ".count)) : nil
                }
            }
            return others
        }

        private func hostRoots(_ settings: HookConfig) throws -> (HostRoots, OpenedSnapshot?) {
            if let snapshot = settings.snapshot {
                let opened = try Snapshot.open(snapshot)
                return (opened.roots, opened)
            }
            return (settings.root.map { HostRoots(path: $0) } ?? .live, nil)
        }

        /// The guest's findings that refuse the start, raised inside the host transaction.
        struct HookRefusal: Error { var lines: [String] }

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
