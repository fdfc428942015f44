import Analysis
import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Binds a whole IOMMU group to a VFIO driver and gives it back, transactionally: plan,
/// lock, journal the prior drivers, write, verify each function, roll back on failure.
public struct GroupBinder {
    public struct Plan: Sendable {
        public var group: Int
        public var target: String
        /// Endpoints that change driver, with what they had.
        public var changes: [PriorDriver]
        /// Endpoints already on the target, and bridges (they stay on pcieport).
        public var unchanged: [PCIAddress]
    }

    public struct Outcome: Sendable {
        public var plan: Plan
        public var writes: [HostWriter.Write]
        /// `/dev/vfio/N` appeared (nil in a dry run).
        public var vfioDevice: String?
    }

    public let roots: HostRoots
    public let state: ActionState
    public var waitSeconds: Double = 5
    /// Crash tests: stop (as if killed) after this many writes. Set from VFIOCTL_TEST_STOP_AFTER_WRITES.
    public var stopAfterWrites: Int?

    public init(roots: HostRoots, state: ActionState) {
        self.roots = roots
        self.state = state
    }

    /// The group's endpoints and what would change. Refuses groups the host depends on
    /// unless `force`.
    public func plan(group: Int, target: String, model: HostModel, force: Bool) throws -> Plan {
        guard let kernelGroups = model.kernelGroups else {
            throw ActionError(
                .invalidRequest,
                "\(model.source) has no kernel IOMMU groups; bind needs a live host (or a --root tree) with the IOMMU on"
            )
        }
        guard let members = kernelGroups[group] else {
            let hint = kernelGroups.isEmpty ? "the IOMMU is off" : "groups are 0…\(kernelGroups.keys.max() ?? 0)"
            throw ActionError(.invalidRequest, "no IOMMU group \(group) (\(hint))")
        }
        if !force {
            for dependency in model.facts.hostDependencies where members.contains(dependency.address) {
                throw ActionError(
                    .hostDependency,
                    "group \(group) holds \(dependency.address), which the host runs on (\(dependency.kind.rawValue): \(dependency.detail)); binding it would take it from the host. Use --force only if you mean it."
                )
            }
        }
        let switcher = DriverSwitch(sys: roots.sys, writer: HostWriter(dryRun: true))
        var changes: [PriorDriver] = []
        var unchanged: [PCIAddress] = []
        for address in members.sorted() {
            guard let device = model[address], !device.isBridge, device.driver != target else {
                unchanged.append(address)
                continue
            }
            changes.append(
                PriorDriver(address: address, driver: device.driver, override: try switcher.currentOverride(address)))
        }
        return Plan(group: group, target: target, changes: changes, unchanged: unchanged)
    }

    /// Executes a plan. On any failure every changed function is put back and the error
    /// says so; if that fails too, the journal stays for `vfioctl recover`.
    public func bind(_ plan: Plan, dryRun: Bool, kernelModel: ((HostWriter.Write) throws -> Void)? = nil) throws
        -> Outcome
    {
        let writer = HostWriter(dryRun: dryRun)
        writer.kernelModel = counting(kernelModel)
        let switcher = DriverSwitch(sys: roots.sys, writer: writer)
        if dryRun {
            for change in plan.changes { try switcher.bind(change.address, to: plan.target) }
            return Outcome(plan: plan, writes: writer.writes, vfioDevice: nil)
        }
        let lock = try HostLock(stateDirectory: state.directory)
        defer { withExtendedLifetime(lock) {} }
        try state.writeJournal(action: "bind group \(plan.group) \(plan.target)", devices: plan.changes)
        var done: [PriorDriver] = []
        do {
            for change in plan.changes {
                done.append(change)
                try switcher.bind(change.address, to: plan.target)
            }
        } catch {
            try rollBack(done, switcher: switcher, cause: error)
        }
        var previous = try state.binding(group: plan.group) ?? []
        previous += plan.changes.filter { change in !previous.contains { $0.address == change.address } }
        try state.saveBinding(group: plan.group, devices: previous)
        state.clearJournal()
        let device = try waitForVFIODevice(group: plan.group)
        return Outcome(plan: plan, writes: writer.writes, vfioDevice: device)
    }

    /// Puts every function of the group back on the driver it had before vfioctl bound it
    /// (from the binding record; without one, functions on vfio-pci are released to
    /// `drivers_probe`).
    public func restore(
        group: Int, model: HostModel, dryRun: Bool, kernelModel: ((HostWriter.Write) throws -> Void)? = nil
    )
        throws -> [HostWriter.Write]
    {
        guard let members = model.kernelGroups?[group] else {
            throw ActionError(.invalidRequest, "no IOMMU group \(group)")
        }
        let recorded = try state.binding(group: group) ?? []
        let priors = members.sorted().compactMap { address -> PriorDriver? in
            if let known = recorded.first(where: { $0.address == address }) { return known }
            guard let device = model[address], ["vfio-pci", "pci-stub"].contains(device.driver ?? "") else {
                return nil
            }
            return PriorDriver(address: address, driver: nil, override: nil)
        }
        let writer = HostWriter(dryRun: dryRun)
        writer.kernelModel = counting(kernelModel)
        let switcher = DriverSwitch(sys: roots.sys, writer: writer)
        if dryRun {
            for prior in priors { try switcher.revert(prior) }
            return writer.writes
        }
        let lock = try HostLock(stateDirectory: state.directory)
        defer { withExtendedLifetime(lock) {} }
        try state.writeJournal(action: "restore group \(group)", devices: priors)
        for prior in priors { try switcher.revert(prior) }
        state.removeBinding(group: group)
        state.clearJournal()
        return writer.writes
    }

    /// After a crash: puts every function the journal names back the way it was, and a PF
    /// whose VF count was changing back to its old count.
    public func recover(kernelModel: ((HostWriter.Write) throws -> Void)? = nil) throws -> (
        action: String, devices: [PriorDriver]
    )? {
        guard let journal = try state.readJournal() else { return nil }
        let lock = try HostLock(stateDirectory: state.directory)
        defer { withExtendedLifetime(lock) {} }
        let writer = HostWriter(dryRun: false)
        writer.kernelModel = kernelModel
        let switcher = DriverSwitch(sys: roots.sys, writer: writer)
        for prior in journal.devices.reversed() { try switcher.revert(prior) }
        for line in journal.lines where line.hasPrefix("sriov ") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let pf = PCIAddress(parts[1]), let previous = Int(parts[2]) else { continue }
            var manager = SRIOVManager(roots: roots, state: ActionState(directory: state.directory + "/recover"))
            manager.timeoutSeconds = waitSeconds * 6
            _ = try manager.set(pf, count: previous, autoprobe: nil, force: true, inUseByGuests: [], writer: writer)
        }
        state.clearJournal()
        return (journal.action, journal.devices)
    }

    private func rollBack(_ done: [PriorDriver], switcher: DriverSwitch, cause: any Error) throws -> Never {
        var failures: [String] = []
        for prior in done.reversed() {
            do { try switcher.revert(prior) } catch { failures.append("\(prior.address): \(error)") }
        }
        guard failures.isEmpty else {
            throw ActionError(
                .failedRollbackIncomplete,
                "\(cause); rolling back failed too (\(failures.joined(separator: "; "))): the journal in \(state.directory) is kept, run `vfioctl recover`"
            )
        }
        state.clearJournal()
        throw ActionError(.failedAndRolledBack, "\(cause); every function is back on the driver it had")
    }

    /// `/dev/vfio/N` appears when the group's last function binds to vfio.
    private func waitForVFIODevice(group: Int) throws -> String? {
        let dev = roots.dev
        let deadline = Double(DispatchTimeShim.now()) + waitSeconds
        while Double(DispatchTimeShim.now()) < deadline {
            if dev.exists("vfio/\(group)") { return (try? dev.resolve("vfio/\(group)").string) ?? nil }
            usleep(50_000)
        }
        return nil
    }

    private func counting(_ model: ((HostWriter.Write) throws -> Void)?) -> ((HostWriter.Write) throws -> Void)? {
        guard let limit = stopAfterWrites else { return model }
        var count = 0
        return { write in
            try model?(write)
            count += 1
            if count >= limit {
                // Crash test: die the way kill -9 would, journal and all left behind.
                raise(SIGKILL)
            }
        }
    }
}

/// Seconds on the monotonic clock.
enum DispatchTimeShim {
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
