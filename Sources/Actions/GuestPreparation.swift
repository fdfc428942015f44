import HostAccess
import PCIModel

/// What the libvirt hook changes on the host for a guest, and how it undoes it: VFs created
/// for hostdevs that name VFs not there yet, and unmanaged hostdevs' groups bound to
/// vfio-pci. Each change is recorded as a line (`sriov PF PREVIOUS`, `group N`) so release,
/// or a refusal, puts the host back.
public struct GuestPreparation {
    public let session: HostSession
    public var timeoutSeconds: Double = 30

    public init(session: HostSession) { self.session = session }

    /// The PF and VF count that would put a VF at `address`: routing ID = PF + First VF
    /// Offset + VF Stride × index (SR-IOV spec 3.3.10, 3.3.11).
    public static func vfPlacement(of address: PCIAddress, in model: HostModel) -> (pf: PCIAddress, count: Int)? {
        let target = Int(address.bus) << 8 | Int(address.device) << 3 | Int(address.function)
        for device in model.devices where device.address.domain == address.domain {
            guard let sriov = device.config.sriov else { continue }
            let pf = Int(device.address.bus) << 8 | Int(device.address.device) << 3 | Int(device.address.function)
            for index in 0..<Int(sriov.totalVFs)
            where pf + Int(sriov.firstVFOffset) + Int(sriov.vfStride) * index == target {
                return (device.address, index + 1)
            }
        }
        return nil
    }

    /// Creates the VFs missing hostdevs need (growing a PF's count only when none of its
    /// current VFs is in use). Returns the records of what changed, for release.
    public func createVFs(for addresses: [PCIAddress], model: HostModel, inUse: Set<PCIAddress>) throws -> [String] {
        var needed: [PCIAddress: Int] = [:]
        for address in addresses where model[address] == nil {
            guard let placement = Self.vfPlacement(of: address, in: model) else { continue }
            needed[placement.pf] = max(needed[placement.pf] ?? 0, placement.count)
        }
        var records: [String] = []
        var manager = SRIOVManager(session: session)
        manager.timeoutSeconds = timeoutSeconds
        for (pf, count) in needed.sorted(by: { $0.key < $1.key }) {
            let status = try manager.status(pf)
            guard status.current < count else { continue }
            _ = try manager.set(pf, count: count, autoprobe: false, force: false, inUseByGuests: inUse)
            records.append("sriov \(pf) \(status.current)")
        }
        return records
    }

    /// Binds the groups of the given (unmanaged) functions to vfio-pci.
    public func bindGroups(of addresses: [PCIAddress], model: HostModel) throws -> [String] {
        var binder = GroupBinder(session: session)
        binder.waitSeconds = min(timeoutSeconds, 5)
        var records: [String] = []
        for group in Set(addresses.compactMap { model[$0]?.iommuGroup }).sorted() {
            let plan = try binder.plan(
                group: group, target: VFIOOwnership.vfioPCI, model: model, force: false, acceptingVFIOOwned: true)
            guard !plan.changes.isEmpty else { continue }
            _ = try binder.bind(plan)
            records.append("group \(group)")
        }
        return records
    }

    /// Undoes a guest's recorded changes (`group N`, `sriov PF PREVIOUS`, `hugepages KIB
    /// BEFORE AFTER`), newest first, each journaled in the session. Errors are collected, not
    /// thrown: release must put back as much as it can.
    public func undo(_ records: [String]) -> [String] {
        var failures: [String] = []
        for line in records.reversed() {
            let parts = line.split(separator: " ")
            do {
                if parts.count == 2, parts[0] == "group", let group = Int(parts[1]) {
                    let model = try SysfsHostReader(roots: session.roots).read(source: "host")
                    _ = try GroupBinder(session: session).restore(group: group, model: model)
                } else if parts.count == 3, parts[0] == "sriov", let pf = PCIAddress(parts[1]),
                    let previous = Int(parts[2])
                {
                    var manager = SRIOVManager(session: session)
                    manager.timeoutSeconds = timeoutSeconds
                    _ = try manager.set(pf, count: previous, autoprobe: nil, force: true, inUseByGuests: [])
                } else if parts.count == 4, parts[0] == "hugepages", let kib = Int(parts[1]),
                    let before = Int(parts[2])
                {
                    _ = try session.resizeHugepages(HugepagePool(sizeKiB: kib, node: nil), to: before)
                }
            } catch {
                failures.append("\(line): \(error)")
            }
        }
        return failures
    }
}
