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
    public let state: ActionState
    public var timeoutSeconds: Double = 30
    /// Called while waiting: (VFs present, VFs expected).
    public var progress: (Int, Int) -> Void = { _, _ in }

    public init(roots: HostRoots, state: ActionState) {
        self.roots = roots
        self.state = state
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
    /// `force`. Returns the new status.
    public func set(
        _ pf: PCIAddress, count: Int, autoprobe: Bool?, force: Bool, inUseByGuests: Set<PCIAddress>, writer: HostWriter
    ) throws -> Status {
        let before = try status(pf)
        guard count >= 0, count <= before.total else {
            throw ActionError(
                .invalidRequest, "\(pf) supports at most \(before.total) VFs (sriov_totalvfs), not \(count)")
        }
        let switcher = DriverSwitch(sys: sys, writer: writer)
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
                if try switcher.currentDriver(vf) == "vfio-pci" {
                    throw ActionError(
                        .inUse,
                        "VF \(vf) is bound to vfio-pci and may be in a guest; `vfioctl restore \(vf)` first (or --force)"
                    )
                }
            }
        }
        let base = "bus/pci/devices/\(pf)"
        if !writer.dryRun {
            try state.writeJournal(
                action: "sriov \(pf) \(before.current) to \(count)", devices: [],
                extra: ["sriov \(pf) \(before.current)"])
        }
        if let autoprobe, autoprobe != before.autoprobe {
            try writer.write(autoprobe ? "1" : "0", to: base + "/sriov_drivers_autoprobe", in: sys)
        }
        if count != before.current {
            // A non-zero count changes only through 0 (EBUSY otherwise).
            if before.current > 0 {
                try writer.write("0", to: base + "/sriov_numvfs", in: sys)
                if !writer.dryRun { try wait(pf, for: 0) }
            }
            if count > 0 {
                try writer.write(String(count), to: base + "/sriov_numvfs", in: sys)
                if !writer.dryRun { try wait(pf, for: count) }
            }
        }
        if !writer.dryRun { state.clearJournal() }
        return writer.dryRun ? before : try status(pf)
    }

    private func wait(_ pf: PCIAddress, for expected: Int) throws {
        let deadline = DispatchTimeShim.now() + timeoutSeconds
        var last = -1
        while true {
            let present = try vfs(of: pf).count
            if present != last { progress(present, expected) }
            last = present
            if present == expected { return }
            if DispatchTimeShim.now() > deadline {
                throw ActionError(
                    .timeout,
                    "\(pf): \(present) of \(expected) VFs after \(Int(timeoutSeconds)) s; see dmesg for the PF driver's complaint"
                )
            }
            usleep(50_000)
        }
    }
}
