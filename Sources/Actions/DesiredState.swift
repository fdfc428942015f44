import HostAccess
import PCIModel
import SystemPackage

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

    /// `[[early-bind]]`: `target` is an address or `group:N`; `ids` also writes
    /// `options vfio-pci ids=` (see `EarlyBinder`).
    public struct EarlyBind: Sendable {
        public var target: String
        public var ids: Bool
        public init(target: String, ids: Bool) {
            self.target = target
            self.ids = ids
        }
    }

    public var hugepages: [Pool] = []
    public var sriov: [VFs] = []
    public var bindings: [Binding] = []
    public var earlyBinds: [EarlyBind] = []
    /// `[[reset-method]]`: the methods a function's `reset_method` gets at boot (udev rule).
    public var resetMethods: [(address: PCIAddress, methods: [ResetMethod])] = []
    /// `[[expect-group]]`: what the kernel groups must be before anything is changed.
    public var expectedGroups: [GroupExpectation] = []

    public init() {}

    /// Every expectation that does not hold on `model`, with the expectation it breaks.
    public func groupMismatches(in model: HostModel) -> [(expectation: GroupExpectation, mismatch: GroupMismatch)] {
        expectedGroups.flatMap { expectation in expectation.mismatches(in: model).map { (expectation, $0) } }
    }

    /// The functions the file's other entries act on (bindings, early-bind targets, VF PFs,
    /// reset methods), and the groups they name; for `apply --pin`.
    /// `numbered` holds the groups named by number (`group:N`).
    public func targets(in model: HostModel) -> (groups: Set<Int>, numbered: Set<Int>, unresolved: [String]) {
        var groups: Set<Int> = []
        var numbered: Set<Int> = []
        var unresolved: [String] = []
        func add(_ target: String) {
            switch DeviceTarget(target) {
            case .group(let number) where model.kernelGroups?[number] != nil:
                groups.insert(number)
                numbered.insert(number)
            case .function(let address):
                if let group = model[address]?.iommuGroup { groups.insert(group) } else { unresolved.append(target) }
            default: unresolved.append(target)
            }
        }
        for item in sriov { add(item.pf.description) }
        for binding in bindings { add(binding.target) }
        for item in earlyBinds { add(item.target) }
        for item in resetMethods { add(item.address.description) }
        return (groups, numbered, unresolved)
    }
}

extension GroupMismatch {
    /// The line `apply` and the hook print: the mismatch and the expectation it breaks.
    public func line(for expectation: GroupExpectation) -> String {
        "\(description) (expected by [[expect-group]] at \(expectation.source))"
    }
}

/// Brings the host to a desired state, changing only what differs: hugepages first (before
/// memory fragments), then VF counts (they create functions), then bindings, then the boot-time
/// files (early binding, reset methods). Idempotent.
public struct DesiredStateApplier {
    public let session: HostSession
    public var timeoutSeconds: Double = 30

    public init(session: HostSession) { self.session = session }

    private var roots: HostRoots { session.roots }
    private var dryRun: Bool { session.dryRun }

    /// One line per item: what changed, or that it already was so. Refuses before the first
    /// write when an `[[expect-group]]` does not hold.
    public func apply(_ desired: DesiredState) throws -> [String] {
        if !desired.expectedGroups.isEmpty {
            let model = try SysfsHostReader(roots: roots).read(source: "host")
            let found = desired.groupMismatches(in: model)
            if !found.isEmpty {
                throw ActionError(
                    .invalidRequest,
                    "the IOMMU groups are not what the desired state expects; nothing was changed:\n"
                        + found.map { "  " + $0.mismatch.line(for: $0.expectation) }.joined(separator: "\n")
                        + "\n  check the new groups (`vfioctl iommu`), then update [[expect-group]] (`vfioctl apply --pin`)"
                )
            }
        }
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
        if !desired.earlyBinds.isEmpty { report += try earlyBind(desired.earlyBinds) }
        if !desired.resetMethods.isEmpty { report += try persistResetMethods(desired.resetMethods) }
        return report
    }

    /// Adds the early bindings to those configured (others stay).
    private func earlyBind(_ items: [DesiredState.EarlyBind]) throws -> [String] {
        let binder = EarlyBinder(session: session, model: try SysfsHostReader(roots: roots).read(source: "host"))
        var configuration = try binder.current()
        var report: [String] = []
        for item in items {
            let functions = try binder.functions(item.target)
            let before = configuration
            configuration = try binder.adding(functions, ids: item.ids, to: configuration)
            let list = functions.map(\.description).joined(separator: ", ")
            report.append(
                configuration == before
                    ? "early-bind \(item.target): \(list), unchanged"
                    : "early-bind \(item.target): " + (dryRun ? "would bind " : "binds ") + list
                        + " to vfio-pci at boot")
        }
        let changed = try binder.write(configuration)
        report += changed.map { (dryRun ? "would write /" : "wrote /") + $0 }
        report += try EarlyBindInitramfs(roots: roots, configuration: configuration).advice
        return report
    }

    /// Sets each function's boot-time reset methods in `BootFiles.resetMethodRules` (others stay).
    private func persistResetMethods(_ items: [(address: PCIAddress, methods: [ResetMethod])]) throws -> [String] {
        var rules = ResetMethodRules()
        if case .file(let bytes, _) = try BootFiles.ownedFile(BootFiles.resetMethodRules, roots: roots) {
            rules = try ResetMethodRules.parse(
                String(decoding: bytes, as: UTF8.self),
                path: roots.top.directory.display(BootFiles.resetMethodRules).string)
        }
        var report: [String] = []
        for item in items {
            let names = item.methods.map(\.name).joined(separator: " ")
            if rules.methods[item.address] == item.methods {
                report.append("reset-method \(item.address): \(names) at boot, unchanged")
            } else {
                rules.methods[item.address] = item.methods
                report.append("reset-method \(item.address): " + (dryRun ? "would set " : "sets ") + names + " at boot")
            }
        }
        if try session.replaceConfigFile(BootFiles.resetMethodRules, with: rules.text) {
            report.append((dryRun ? "would write /" : "wrote /") + BootFiles.resetMethodRules)
        }
        return report
    }

    private func bind(_ binding: DesiredState.Binding) throws -> [String] {
        let model = try SysfsHostReader(roots: roots).read(source: "host")
        let named: Int? =
            switch DeviceTarget(binding.target) {
            case .group(let number): number
            case .function(let address): model[address]?.iommuGroup
            case nil: nil
            }
        guard let group = named else {
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
