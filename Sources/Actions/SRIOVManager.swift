import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// Sets a PF's VF count through `sriov_numvfs` the way the kernel requires: a non-zero count
/// only changes through 0 (else EBUSY), the PF's driver must be bound (else ENOENT), and
/// `sriov_drivers_autoprobe` decides whether new VFs get a driver.
public struct SRIOVManager {
    public struct Status: Sendable {
        public var pf: PCIAddress
        public var total: Int
        public var current: Int
        public var autoprobe: Bool?
        public var vfs: [PCIAddress]
    }

    public let roots: HostRoots
    /// The session changes go through; nil for a manager that only reads (`status`).
    public let session: HostSession?
    public var timeoutSeconds: Double = 30
    /// Called while waiting: (VFs present, VFs expected).
    public var progress: (Int, Int) -> Void = { _, _ in }

    /// A manager that reads only.
    public init(roots: HostRoots) {
        self.roots = roots
        session = nil
    }

    /// A manager that changes VF counts inside `session`.
    public init(session: HostSession) {
        roots = session.roots
        self.session = session
    }

    private var sys: RootedFileSystem { roots.sys }

    public func status(_ pf: PCIAddress) throws -> Status {
        let base = "bus/pci/devices/\(pf)"
        guard sys.exists(base) else { throw ActionError(.invalidRequest, "no PCI function \(pf)") }
        guard let total = try sys.readText(base + "/sriov_totalvfs").flatMap({ Int($0) }) else {
            throw ActionError(.invalidRequest, "\(pf) is not an SR-IOV physical function (no sriov_totalvfs)")
        }
        let current = try sys.readText(base + "/sriov_numvfs").flatMap { Int($0) } ?? 0
        let autoprobe = try sys.readText(base + "/sriov_drivers_autoprobe").map { $0 == "1" }
        return Status(pf: pf, total: total, current: current, autoprobe: autoprobe, vfs: try vfs(of: pf))
    }

    /// The VFs, from the PF's `virtfnN` links in N order.
    public func vfs(of pf: PCIAddress) throws -> [PCIAddress] {
        let entries = try sys.list("bus/pci/devices/\(pf)") ?? []
        let numbered = entries.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("virtfn"), let index = Int(name.dropFirst("virtfn".count)) else { return nil }
            return (index, name)
        }.sorted { $0.0 < $1.0 }
        return try numbered.compactMap { _, name in
            try sys.readLink("bus/pci/devices/\(pf)/\(name)").flatMap {
                $0.split(separator: "/").last.flatMap { PCIAddress($0) }
            }
        }
    }

    /// Sets the count. VFs bound to vfio-pci or registered to a guest are only removed with
    /// `force`. The count before is journaled first. Returns the new status.
    public func set(_ pf: PCIAddress, count: Int, autoprobe: Bool?, force: Bool, inUseByGuests: Set<PCIAddress>) throws
        -> Status
    {
        guard let session else { throw ActionError(.invalidRequest, "SRIOVManager: no session to change \(pf) in") }
        let before = try status(pf)
        guard count >= 0, count <= before.total else {
            throw ActionError(
                .invalidRequest, "\(pf) supports at most \(before.total) VFs (sriov_totalvfs), not \(count)")
        }
        let switcher = DriverSwitch(sys: sys, writer: session.writer)
        if try switcher.currentDriver(pf) == nil {
            throw ActionError(
                .invalidRequest, "\(pf) has no driver; the kernel creates VFs through the PF's driver: load it first")
        }
        let removed = count == before.current ? [] : before.vfs
        if !force {
            for vf in removed {
                if inUseByGuests.contains(vf) {
                    throw ActionError(.inUse, "VF \(vf) is given to a running guest; stop the guest first (or --force)")
                }
                let held = try switcher.ownership(vf)
                if held.isVFIO {
                    throw ActionError(
                        .inUse,
                        "VF \(vf) is \(held) and may be in a guest; `vfioctl restore \(vf)` first (or --force)"
                    )
                }
            }
        }
        let autoprobeChanges = autoprobe != nil && autoprobe != before.autoprobe
        guard autoprobeChanges || count != before.current else { return before }
        try session.journal(
            .sriov(pf: pf, previousCount: before.current, previousAutoprobe: autoprobeChanges ? before.autoprobe : nil))
        try write(pf, count: count, autoprobe: autoprobeChanges ? autoprobe : nil, from: before.current)
        return session.dryRun ? before : try status(pf)
    }

    /// Puts a PF back to `count` VFs (and `autoprobe`), whatever is on them: the undo of `set`.
    func restore(_ pf: PCIAddress, count: Int, autoprobe: Bool?) throws {
        let current = try status(pf)
        try write(pf, count: count, autoprobe: autoprobe == current.autoprobe ? nil : autoprobe, from: current.current)
    }

    /// The writes: `sriov_drivers_autoprobe`, then `sriov_numvfs` through 0 when a non-zero
    /// count changes (EBUSY otherwise), waiting for the kernel after each.
    private func write(_ pf: PCIAddress, count: Int, autoprobe: Bool?, from current: Int) throws {
        guard let writer = session?.writer else { return }
        let base = "bus/pci/devices/\(pf)"
        if let autoprobe {
            try writer.write(autoprobe ? "1" : "0", to: base + "/sriov_drivers_autoprobe", in: sys)
        }
        guard count != current else { return }
        if current > 0 {
            try writer.write("0", to: base + "/sriov_numvfs", in: sys)
            if !writer.dryRun { try wait(pf, for: 0) }
        }
        if count > 0 {
            try writer.write(String(count), to: base + "/sriov_numvfs", in: sys)
            if !writer.dryRun { try wait(pf, for: count) }
        }
    }

    private func wait(_ pf: PCIAddress, for expected: Int) throws {
        let deadline = MonotonicClock.seconds() + timeoutSeconds
        var last = -1
        while true {
            let present = try vfs(of: pf).count
            if present != last { progress(present, expected) }
            last = present
            if present == expected { return }
            if MonotonicClock.seconds() > deadline {
                throw ActionError(
                    .timeout,
                    "\(pf): \(present) of \(expected) VFs after \(Int(timeoutSeconds)) s; see dmesg for the PF driver's complaint"
                )
            }
            usleep(50_000)
        }
    }
}
