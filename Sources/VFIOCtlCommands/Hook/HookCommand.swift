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
            var model = try SysfsHostReader(roots: roots).read(source: "hook")
            let preparation = GuestPreparation(roots: roots, state: ActionState(directory: settings.stateDirectory))
            var changes: [String] = []
            do {
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
            } catch {
                _ = preparation.undo(changes)
                throw refusal(["refuse: preparing the host failed: \(error); what was changed is undone"])
            }
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
            if settings.hugepages == "reserve" {
                let (reserved, pools) = try reserve(definition.hugepagesNeeded, hugepages: hugepages)
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
                hugepages: settings.hugepages == "ignore" ? nil : supply)
            let findings = assessment.findings
            for finding in findings where finding.level != .refuse {
                FileHandleStderr.write("vfioctl: \(domain): \(finding)\n")
            }
            let refusals = findings.filter { $0.level == .refuse }
            if !refusals.isEmpty {
                try? undoHugepages(records, hugepages: hugepages)
                _ = preparation.undo(changes)
                throw refusal(refusals.map(\.description))
            }
            try state.write(domain, lines: records)
        }

        /// Grows each host-wide pool the guest needs (page size in KiB → pages) by what is
        /// missing, remembering the old size. Returns the records for release and the pools
        /// with their free pages as the growth leaves them.
        private func reserve(_ needed: [Int: Int], hugepages: Hugepages) throws -> ([String], [HugepagePool]) {
            var records: [String] = []
            var pools: [HugepagePool] = []
            for (kib, pages) in needed.sorted(by: { $0.key < $1.key }) {
                let pool = try hugepages.read(HugepagePool(sizeKiB: kib, node: nil))
                guard pool.free < pages else { continue }
                let (target, overflow) = pool.total.addingReportingOverflow(pages - pool.free)
                guard !overflow else { continue }  // the check refuses a need this large
                var after: HugepagePool
                do {
                    after = try hugepages.resize(pool, to: target, writer: HostWriter(dryRun: false))
                } catch {
                    try? undoHugepages(records, hugepages: hugepages)  // the sizes grown before this one
                    throw error
                }
                after.free = pool.free + max(0, after.total - pool.total)
                records.append("hugepages \(kib) \(pool.total) \(after.total)")
                pools.append(after)
            }
            return (records, pools)
        }

        private func undoHugepages(_ records: [String], hugepages: Hugepages) throws {
            for line in records where line.hasPrefix("hugepages ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, let kib = Int(parts[1]), let before = Int(parts[2]) else { continue }
                _ = try hugepages.resize(
                    HugepagePool(sizeKiB: kib, node: nil), to: before, writer: HostWriter(dryRun: false))
            }
        }

        private func release(_ settings: HookConfig, state: StateDirectory) throws {
            guard let records = try state.read(domain) else { return }
            let (roots, snapshot) = try hostRoots(settings)
            defer { withExtendedLifetime(snapshot) {} }
            try undoHugepages(records, hugepages: Hugepages(roots: roots))
            let failures = GuestPreparation(roots: roots, state: ActionState(directory: settings.stateDirectory)).undo(
                records)
            for failure in failures { FileHandleStderr.write("vfioctl: \(domain): could not undo \(failure)\n") }
            state.remove(domain)
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
