import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Binds a whole IOMMU group to a VFIO driver and gives it back, inside a host session:
/// plan, journal each function's prior driver, write, verify each function. The session
/// undoes everything on failure.
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

    public let session: HostSession
    public var waitSeconds: Double = 5

    public init(session: HostSession) { self.session = session }

    private var roots: HostRoots { session.roots }

    /// The group's endpoints and what would change. Refuses groups the host depends on
    /// unless `force`. With `acceptingVFIOOwned`, a function already VFIO-owned by any VFIO
    /// driver (a vfio-pci variant such as mlx5_vfio_pci; `VFIOOwnership`) is left where it
    /// is: what a guest needs is VFIO ownership, not vfio-pci by name.
    public func plan(
        group: Int, target: String, model: HostModel, force: Bool, acceptingVFIOOwned: Bool = false
    ) throws -> Plan {
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
            guard let device = model[address], !device.isBridge, device.driver != target,
                !(acceptingVFIOOwned && device.isVFIOOwned)
            else {
                unchanged.append(address)
                continue
            }
            changes.append(
                PriorDriver(address: address, driver: device.driver, override: try switcher.currentOverride(address)))
        }
        return Plan(group: group, target: target, changes: changes, unchanged: unchanged)
    }

    /// Executes a plan: loads the VFIO driver when it is missing (as libvirt probes its stub
    /// driver first), then moves each function, journaling what it had before its first write.
    public func bind(_ plan: Plan) throws -> Outcome {
        let switcher = DriverSwitch(sys: roots.sys, writer: session.writer)
        for change in plan.changes { try switcher.checkWritable(change.address) }
        if !plan.changes.isEmpty { try VFIODriverLoader(session: session).ensureLoaded(plan.target) }
        for change in plan.changes {
            try session.journal(.device(change))
            try switcher.bind(change.address, to: plan.target)
        }
        if session.dryRun { return Outcome(plan: plan, writes: session.writer.writes, vfioDevice: nil) }
        let recorded = try session.state.binding(group: plan.group)
        // A record this action creates goes with it if the action is undone.
        if recorded == nil { try session.journal(.stateFile("bindings/group-\(plan.group)")) }
        var previous = recorded ?? []
        previous += plan.changes.filter { change in !previous.contains { $0.address == change.address } }
        try session.state.saveBinding(group: plan.group, devices: previous)
        let device = try waitForVFIODevice(group: plan.group)
        return Outcome(plan: plan, writes: session.writer.writes, vfioDevice: device)
    }

    /// Puts every function of the group back on the driver it had before vfioctl bound it
    /// (from the binding record; without one, VFIO-owned functions and pci-stub's are
    /// released to `drivers_probe`).
    public func restore(group: Int, model: HostModel) throws -> [HostWriter.Write] {
        guard let members = model.kernelGroups?[group] else {
            throw ActionError(.invalidRequest, "no IOMMU group \(group)")
        }
        let recorded = try session.state.binding(group: group) ?? []
        let switcher = DriverSwitch(sys: roots.sys, writer: session.writer)
        let priors = members.sorted().compactMap { address -> PriorDriver? in
            if let known = recorded.first(where: { $0.address == address }) { return known }
            guard let device = model[address], device.isVFIOOwned || device.vfioOwnership == .stub else {
                return nil
            }
            return PriorDriver(address: address, driver: nil, override: nil)
        }
        // As for bind: nothing is journaled for a function whose override cannot be written.
        for prior in priors { try switcher.checkWritable(prior.address) }
        for prior in priors {
            let address = prior.address
            // What it has now is what a crash mid-restore must go back to.
            let now = PriorDriver(
                address: address, driver: model[address]?.driver, override: try switcher.currentOverride(address))
            try session.journal(.device(now))
            try switcher.revert(prior)
        }
        if !session.dryRun { session.state.removeBinding(group: group) }
        return session.writer.writes
    }

    /// `/dev/vfio/N` appears when the group's last function binds to vfio.
    private func waitForVFIODevice(group: Int) throws -> String? {
        let dev = roots.dev
        let deadline = MonotonicClock.seconds() + waitSeconds
        while MonotonicClock.seconds() < deadline {
            if dev.exists("vfio/\(group)") { return (try? dev.resolve("vfio/\(group)").string) ?? nil }
            usleep(50_000)
        }
        return nil
    }
}
