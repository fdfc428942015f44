import HostAccess
import PCIModel

/// A desired-state file (`vfioctl apply`): hugepage pools, VF counts, group bindings.
public struct DesiredState: Sendable {
    public struct Pool: Sendable {
        public var sizeKiB: Int
        public var count: Int
        public var node: Int?
        public init(sizeKiB: Int, count: Int, node: Int?) {
            self.sizeKiB = sizeKiB
            self.count = count
            self.node = node
        }
    }

    public struct VFs: Sendable {
        public var pf: PCIAddress
        public var count: Int
        public var autoprobe: Bool?
        public var bind: String?
        public init(pf: PCIAddress, count: Int, autoprobe: Bool?, bind: String?) {
            self.pf = pf
            self.count = count
            self.autoprobe = autoprobe
            self.bind = bind
        }
    }

    /// `target` is an address or `group:N`.
    public struct Binding: Sendable {
        public var target: String
        public var driver: String
        public init(target: String, driver: String) {
            self.target = target
            self.driver = driver
        }
    }

    public var hugepages: [Pool] = []
    public var sriov: [VFs] = []
    public var bindings: [Binding] = []

    public init() {}
}

/// Brings the host to a desired state, changing only what differs: hugepages first (before
/// memory fragments), then VF counts (they create functions), then bindings. Idempotent.
public struct DesiredStateApplier {
    public let session: HostSession
    public var timeoutSeconds: Double = 30

    public init(session: HostSession) { self.session = session }

    private var roots: HostRoots { session.roots }
    private var dryRun: Bool { session.dryRun }

    /// One line per item: what changed, or that it already was so.
    public func apply(_ desired: DesiredState) throws -> [String] {
        var report: [String] = []
        let hugepages = Hugepages(roots: roots)
        for pool in desired.hugepages {
            let poolName = pool.node.map { "node \($0)" } ?? "host"
            let current = try hugepages.read(HugepagePool(sizeKiB: pool.sizeKiB, node: pool.node))
            if current.total == pool.count {
                report.append("hugepages \(pool.sizeKiB) KiB on \(poolName): \(pool.count) pages, unchanged")
                continue
            }
            let after = try session.resizeHugepages(current, to: pool.count)
            report.append(
                dryRun
                    ? "hugepages \(pool.sizeKiB) KiB on \(poolName): would go \(current.total) → \(pool.count)"
                    : "hugepages \(pool.sizeKiB) KiB on \(poolName): \(current.total) → \(after.total)"
                        + (after.total == pool.count ? "" : " (asked \(pool.count): the kernel gave fewer)"))
        }
        var manager = SRIOVManager(session: session)
        manager.timeoutSeconds = timeoutSeconds
        for item in desired.sriov {
            let status = try manager.status(item.pf)
            let autoprobeChanges = item.autoprobe != nil && item.autoprobe != status.autoprobe
            if status.current != item.count || autoprobeChanges {
                let after = try manager.set(
                    item.pf, count: item.count, autoprobe: item.autoprobe, force: false, inUseByGuests: [])
                report.append(
                    dryRun
                        ? "sriov \(item.pf): would go \(status.current) → \(item.count) VFs"
                        : "sriov \(item.pf): \(status.current) → \(after.current) VFs")
            } else {
                report.append("sriov \(item.pf): \(item.count) VFs, unchanged")
            }
            if let driver = item.bind, !dryRun {
                for vf in try manager.vfs(of: item.pf) {
                    report += try bind(DesiredState.Binding(target: vf.description, driver: driver))
                }
            }
        }
        for binding in desired.bindings {
            report += try bind(binding)
        }
        return report
    }

    private func bind(_ binding: DesiredState.Binding) throws -> [String] {
        let model = try SysfsHostReader(roots: roots).read(source: "host")
        let group: Int
        if binding.target.hasPrefix("group:"), let number = Int(binding.target.dropFirst(6)) {
            group = number
        } else if let address = PCIAddress(binding.target), let found = model[address]?.iommuGroup {
            group = found
        } else {
            throw ActionError(
                .invalidRequest, "bind \(binding.target): no such device or group with an IOMMU group on this host")
        }
        var binder = GroupBinder(session: session)
        binder.waitSeconds = min(timeoutSeconds, 5)
        let plan = try binder.plan(group: group, target: binding.driver, model: model, force: false)
        if plan.changes.isEmpty { return ["bind group \(group) (\(binding.target)): on \(binding.driver), unchanged"] }
        _ = try binder.bind(plan)
        let moved = plan.changes.map { "\($0.address) \($0.driver ?? "unbound") → \(binding.driver)" }.joined(
            separator: ", ")
        return ["bind group \(group) (\(binding.target)): " + (dryRun ? "would move " : "") + moved]
    }
}
