import PCIModel

/// `[[expect-group]]` in a desired-state file: the kernel IOMMU group holding `members[0]`
/// holds exactly `members` (`/sys/kernel/iommu_groups/N/devices`), and, when `ids` is given,
/// each member has that vendor:device (`vendor`, `device` in its sysfs directory). A BIOS or
/// kernel update or a card moved to another slot changes groups silently; this says so.
public struct GroupExpectation: Sendable, Equatable {
    /// A `vendor:device` pair as `lspci -n` prints it.
    public struct IDs: Sendable, Hashable, CustomStringConvertible {
        public var vendor: UInt16
        public var device: UInt16
        public init(vendor: UInt16, device: UInt16) {
            self.vendor = vendor
            self.device = device
        }

        /// `8086:10c9`; nil for anything else.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.count == 4 }),
                let vendor = UInt16(parts[0], radix: 16), let device = UInt16(parts[1], radix: 16)
            else { return nil }
            self.init(vendor: vendor, device: device)
        }

        public var description: String { hex(vendor, width: 4) + ":" + hex(device, width: 4) }
    }

    /// The most members an expectation may list (a group of every function of a 256-bus
    /// segment is far beyond any real one; the limit keeps a hostile file cheap).
    public static let maximumMembers = 4096

    public var members: [PCIAddress]
    /// Same order as `members`; nil when the file gives none.
    public var ids: [IDs]?
    /// `group = N`: the kernel group number the file's `group:N` targets name. Numbers change
    /// between boots, so it is only written (and checked) when a `[[bind]]` or `[[early-bind]]`
    /// acts on the group by number: then group N must still be the one holding `members`.
    public var number: Int?
    /// Where it was written (`desired.toml:12`), for messages.
    public var source: String

    public init(members: [PCIAddress], ids: [IDs]?, number: Int? = nil, source: String) {
        self.members = members
        self.ids = ids
        self.number = number
        self.source = source
    }

    /// The group the host has now for `group`, as an expectation (members sorted). SR-IOV VFs
    /// are left out: they come and go with `sriov_numvfs` (a `[[sriov]]` entry, the hook's
    /// `create-vfs`), and a VF in its own PF's group is never a change (see `mismatches`).
    public init(group: Int, in model: HostModel, byNumber: Bool = false, source: String) {
        let members = (model.kernelGroups?[group] ?? []).sorted().filter { model[$0]?.physicalFunction == nil }
        self.init(
            members: members,
            ids: members.map { address in
                model[address].map { IDs(vendor: $0.vendorID, device: $0.deviceID) }
                    ?? IDs(vendor: 0xffff, device: 0xffff)
            },
            number: byNumber ? group : nil, source: source)
    }

    /// Whether both name the same functions (in any order), with the same ids where both give
    /// ids (they are optional), and the same number where both give one.
    public func agrees(with other: GroupExpectation) -> Bool {
        func pairs(_ e: GroupExpectation) -> [PCIAddress: IDs?] {
            Dictionary(
                e.members.enumerated().map { ($1, e.ids?[$0]) }, uniquingKeysWith: { first, _ in first })
        }
        guard Set(members) == Set(other.members) else { return false }
        if let number, let otherNumber = other.number, number != otherNumber { return false }
        return ids == nil || other.ids == nil || pairs(self) == pairs(other)
    }

    /// What differs on the host, one mismatch each; empty when it holds.
    public func mismatches(in model: HostModel) -> [GroupMismatch] {
        guard let groups = model.kernelGroups else { return [.cannotCheck(source: model.source)] }
        guard let anchor = members.first else { return [] }
        var found: [GroupMismatch] = []
        let group = model[anchor]?.iommuGroup
        for (index, member) in members.enumerated() {
            guard let device = model[member] else {
                found.append(.missing(member))
                continue
            }
            if let ids, index < ids.count {
                let actual = IDs(vendor: device.vendorID, device: device.deviceID)
                if actual != ids[index] { found.append(.idsChanged(member, now: actual, expected: ids[index])) }
            }
            guard index > 0 else {
                if device.iommuGroup == nil { found.append(.noGroup(member)) }
                continue
            }
            if device.iommuGroup == nil {
                found.append(.noGroup(member))
            } else if device.iommuGroup != group {
                found.append(.leftGroup(member, anchor: anchor))
            }
        }
        if let group {
            let expected = Set(members)
            let now = groups[group] ?? []
            for extra in now.sorted() where !expected.contains(extra) {
                // A VF of a function in the same group comes and goes with sriov_numvfs.
                if let pf = model[extra]?.physicalFunction, now.contains(pf) { continue }
                found.append(.added(extra, anchor: anchor))
            }
        }
        if let number, let group, group != number {
            found.append(.renumbered(number: number, now: group, anchor: anchor))
        }
        return found
    }

    /// Every expectation that concerns `addresses`: one listing any of them, or one of whose
    /// members is now in a group with any of them (a guest given a function that moved into a
    /// pinned function's group takes it too).
    public func concerns(_ addresses: Set<PCIAddress>, in model: HostModel) -> Bool {
        if members.contains(where: addresses.contains) { return true }
        let pinnedGroups = Set(members.compactMap { model[$0]?.iommuGroup })
        return addresses.contains { model[$0]?.iommuGroup.map(pinnedGroups.contains) ?? false }
    }
}

/// How a host differs from a `GroupExpectation`.
public enum GroupMismatch: Sendable, Equatable, CustomStringConvertible {
    /// The group of `anchor` now also holds `address`.
    case added(PCIAddress, anchor: PCIAddress)
    /// `address` is no longer in the group of `anchor`.
    case leftGroup(PCIAddress, anchor: PCIAddress)
    /// `address` has other ids.
    case idsChanged(PCIAddress, now: GroupExpectation.IDs, expected: GroupExpectation.IDs)
    /// No function `address` on the host.
    case missing(PCIAddress)
    /// `address` is in no IOMMU group (IOMMU off, or not covered).
    case noGroup(PCIAddress)
    /// The source has no kernel groups (an lspci dump).
    case cannotCheck(source: String)
    /// The file acts on group `number`, but the pinned functions are now in group `now`.
    case renumbered(number: Int, now: Int, anchor: PCIAddress)

    public var description: String {
        switch self {
        case .added(let address, let anchor): "group of \(anchor) now also holds \(address) (added)"
        case .leftGroup(let address, let anchor):
            "\(address) is now in another group (no longer with \(anchor))"
        case .idsChanged(let address, let now, let expected): "\(address) is \(now), expected \(expected)"
        case .missing(let address): "no function \(address)"
        case .noGroup(let address): "\(address) is in no IOMMU group (is the IOMMU on?)"
        case .cannotCheck(let source):
            "\(source) has no kernel IOMMU groups: expected groups cannot be checked"
        case .renumbered(let number, let now, let anchor):
            "group \(number), which the file acts on by number, no longer holds \(anchor): it is now in group \(now)"
        }
    }

    /// The function the mismatch is about.
    public var address: PCIAddress? {
        switch self {
        case .added(let a, _), .leftGroup(let a, _), .idsChanged(let a, _, _), .missing(let a), .noGroup(let a),
            .renumbered(_, _, let a):
            a
        case .cannotCheck: nil
        }
    }
}
