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
    /// Where it was written (`desired.toml:12`), for messages.
    public var source: String

    public init(members: [PCIAddress], ids: [IDs]?, source: String) {
        self.members = members
        self.ids = ids
        self.source = source
    }

    /// The group the host has now for `group`, as an expectation (members sorted).
    public init(group: Int, in model: HostModel, source: String) {
        let members = (model.kernelGroups?[group] ?? []).sorted()
        self.init(
            members: members,
            ids: members.map { address in
                model[address].map { IDs(vendor: $0.vendorID, device: $0.deviceID) }
                    ?? IDs(vendor: 0xffff, device: 0xffff)
            },
            source: source)
    }

    /// Whether both name the same functions (in any order) with the same ids.
    public func agrees(with other: GroupExpectation) -> Bool {
        func pairs(_ e: GroupExpectation) -> [PCIAddress: IDs?] {
            Dictionary(
                e.members.enumerated().map { ($1, e.ids?[$0]) }, uniquingKeysWith: { first, _ in first })
        }
        return Set(members) == Set(other.members) && pairs(self) == pairs(other)
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
            for extra in (groups[group] ?? []).sorted() where !expected.contains(extra) {
                found.append(.added(extra, anchor: anchor))
            }
        }
        return found
    }

    /// Every expectation that concerns `addresses`: one listing any of them, or whose
    /// group (that of `members[0]` now) holds any of them.
    public func concerns(_ addresses: Set<PCIAddress>, in model: HostModel) -> Bool {
        if members.contains(where: addresses.contains) { return true }
        guard let anchor = members.first, let group = model[anchor]?.iommuGroup else { return false }
        return addresses.contains { model[$0]?.iommuGroup == group }
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
        }
    }

    /// The function the mismatch is about.
    public var address: PCIAddress? {
        switch self {
        case .added(let a, _), .leftGroup(let a, _), .idsChanged(let a, _, _), .missing(let a), .noGroup(let a): a
        case .cannotCheck: nil
        }
    }
}
