import Actions
import Analysis
import DomainXML
import HostAccess
import PCIModel
import QuirkDB

/// A guest's start and end as the libvirt hook sees them, each one host transaction:
/// `prepare` creates the VFs its hostdevs name, binds its unmanaged hostdevs' groups, reserves
/// hugepages (by `Options.hugepages`), assesses the guest against the host and registers its
/// devices (`STATE/domains/NAME`: for release and for vfio-aerd's owner lookup); a refusal or
/// an error undoes every change it made. `release` undoes what the registration records.
public struct GuestStart {
    /// `hugepages` in hook.toml: what the hook does about the hugepages a guest's
    /// `<memoryBacking><hugepages>` needs (the pools under
    /// `/sys/kernel/mm/hugepages/hugepages-*kB` and `/sys/devices/system/node/node*/hugepages`).
    public enum HugepagesMode: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Refuse the start when the pools have too few free pages.
        case check
        /// Grow the host-wide pools by what is missing (undone at release), then check.
        case reserve
        /// Neither check nor reserve: the supply is not looked at.
        case ignore

        public var description: String { rawValue }
    }

    public struct Options: Sendable {
        public var createVFs = false
        public var bindUnmanaged = false
        public var hugepages = HugepagesMode.check
        /// A bus reset reaching the host's or another guest's functions: refuse or warn.
        public var busReset = BusResetPolicy.refuse
        /// `[[expect-group]]` entries of hook.toml's `desired-state`: a group holding one of
        /// the guest's hostdevs that no longer matches refuses the start.
        public var expectedGroups: [GroupExpectation] = []
        public init(
            createVFs: Bool = false, bindUnmanaged: Bool = false, hugepages: HugepagesMode = .check,
            busReset: BusResetPolicy = .refuse
        ) {
            self.createVFs = createVFs
            self.bindUnmanaged = bindUnmanaged
            self.hugepages = hugepages
            self.busReset = busReset
        }
    }

    /// Why the start is refused: one line each, the last saying what became of the host.
    public struct Refusal: Error, Sendable {
        public var lines: [String]
    }

    public let domain: String
    public let roots: HostRoots
    /// The registrations (`STATE/domains`).
    public let registrations: StateDirectory
    /// The session's state directory (lock, journals).
    public let state: ActionState
    public var options: Options
    /// The quirk database for this host (the shipped one with its `quirks.d`).
    public var quirkDatabase: () throws -> QuirkDatabase

    public init(
        domain: String, roots: HostRoots, state: ActionState, options: Options,
        quirkDatabase: @escaping () throws -> QuirkDatabase
    ) {
        self.domain = domain
        self.roots = roots
        self.state = state
        registrations = StateDirectory(path: state.directory + "/domains")
        self.options = options
        self.quirkDatabase = quirkDatabase
    }

    /// Prepares the host for `definition`, or refuses with `Refusal` after undoing every
    /// change. Returns the findings that do not refuse (warnings, notes), for the log.
    public func prepare(_ definition: LibvirtDomain) throws(Refusal) -> [HookFinding] {
        guard !definition.hostdevs.isEmpty || definition.hugepages != nil else { return [] }
        let session: HostSession
        do {
            session = try HostSession(roots: roots, state: state, action: "hook prepare \(domain)", dryRun: false)
        } catch {
            throw Refusal(lines: ["refuse: \(error); nothing was changed"])
        }
        // Everything below is one host transaction: a refusal or an error undoes every change
        // it made (VFs, bindings, hugepages, the registration); a crash leaves its journal for
        // `vfioctl recover`.
        do {
            let findings = try prepareHost(definition, session: session)
            session.complete()
            return findings
        } catch {
            let changed = !session.journaled.isEmpty
            let failures = session.undoAll()
            let undone =
                !changed
                ? "nothing was changed"
                : failures.isEmpty
                    ? "what was changed is undone"
                    : "undoing what was changed failed (\(failures.joined(separator: "; "))): run `vfioctl recover`"
            if let refused = error as? Refusal { throw Refusal(lines: refused.lines + ["(\(undone))"]) }
            throw Refusal(lines: ["refuse: preparing the host failed: \(error); \(undone)"])
        }
    }

    /// Undoes what the guest's registration records and removes it; returns what could not be
    /// undone. Nothing to do when the guest was never registered.
    public func release() throws -> [String] {
        guard let records = try registrations.read(domain) else { return [] }
        let session = try HostSession(roots: roots, state: state, action: "hook release \(domain)", dryRun: false)
        let failures = GuestPreparation(session: session).undo(records)
        registrations.remove(domain)
        session.complete()
        return failures
    }

    private func prepareHost(_ definition: LibvirtDomain, session: HostSession) throws -> [HookFinding] {
        var model = try SysfsHostReader(roots: roots).read(source: "hook")
        try checkExpectedGroups(definition, model: model)
        let others = try otherGuestDevices()
        var preparation = GuestPreparation(session: session)
        preparation.timeoutSeconds = 30
        var changes: [String] = []
        if options.createVFs {
            changes += try preparation.createVFs(
                for: definition.hostdevs.map(\.address), model: model,
                inUse: Set(others.values.joined()))
        }
        if options.bindUnmanaged {
            let unmanaged = definition.hostdevs.filter { !$0.managed }.map(\.address)
            if options.createVFs && !changes.isEmpty {
                model = try SysfsHostReader(roots: roots).read(source: "hook")
            }
            changes += try preparation.bindGroups(of: unmanaged, model: model)
        }
        if !changes.isEmpty { model = try SysfsHostReader(roots: roots).read(source: "hook") }
        let database = try quirkDatabase()
        // Only the guest's functions are assessed: the findings ask about nothing else.
        let guestFunctions = Set(definition.hostdevs.map(\.address))
        let quirks = QuirkEvaluation(database: database, model: model, matching: guestFunctions)
        let report = InspectReport(
            model: model, policy: quirks.policy, additionalReasons: quirks.reasons, assessing: guestFunctions)
        var records = definition.hostdevs.map { "device \($0.address)" } + changes
        var supply = HugepageSupply()
        for pool in (try? Hugepages(roots: roots).pools()) ?? [] {
            let counts = HugepageSupply.Pool(total: pool.total, free: pool.free)
            if let node = pool.node {
                supply.perNode[pool.sizeKiB, default: [:]][node] = counts
            } else {
                supply.hostWide[pool.sizeKiB] = counts
            }
        }
        if options.hugepages == .reserve {
            let (reserved, pools) = try reserve(definition.hugepagesNeeded, session: session)
            records += reserved
            // New pages start free; counting them here does not depend on when the kernel
            // updates free_hugepages. Which node the kernel took them from is not known, so
            // those sizes are not checked per node.
            for pool in pools {
                supply.hostWide[pool.sizeKiB] = HugepageSupply.Pool(total: pool.total, free: pool.free)
                supply.perNode[pool.sizeKiB] = nil
            }
        }
        let assessment = GuestAssessment(
            domain: definition, report: report, quirks: database, policy: quirks.policy, otherDomains: others,
            hugepages: options.hugepages == .ignore ? nil : supply, busReset: options.busReset)
        let findings = assessment.findings
        let refusals = findings.filter { $0.level == .refuse }
        if !refusals.isEmpty { throw Refusal(lines: refusals.map(\.description)) }
        try session.journal(.stateFile("domains/\(domain)"))
        try registrations.write(domain, lines: records)
        return findings
    }

    /// Refuses, before anything changes, when a group holding one of the guest's hostdevs no
    /// longer is what an `[[expect-group]]` says. Entries about other groups do not matter.
    private func checkExpectedGroups(_ definition: LibvirtDomain, model: HostModel) throws {
        let hostdevs = Set(definition.hostdevs.map(\.address))
        let broken = options.expectedGroups.filter { $0.concerns(hostdevs, in: model) }.flatMap { expectation in
            expectation.mismatches(in: model).map { $0.line(for: expectation) }
        }
        guard !broken.isEmpty else { return }
        throw Refusal(
            lines: broken.map { "refuse: IOMMU group changed: " + $0 }
                + ["refuse: check the new groups (`vfioctl iommu`) before giving this guest its devices"])
    }

    /// Grows each host-wide pool the guest needs (page size in KiB → pages) by what is missing,
    /// remembering the old size. Returns the records for release and the pools with their
    /// free pages as the growth leaves them. Each growth is journaled in the session, so a
    /// refusal or a failure undoes all of them.
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

    /// Devices other running guests registered.
    private func otherGuestDevices() throws -> [String: [PCIAddress]] {
        var others: [String: [PCIAddress]] = [:]
        for name in try registrations.list() where name != domain {
            others[name] = try registrations.registeredDevices(name)
        }
        return others
    }
}
