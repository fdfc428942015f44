import PCIModel

/// IOMMU groups predicted from config space by the kernel's rules (`pci_device_group()` in
/// drivers/iommu/iommu.c): DMA aliases first, then up the bridges until a path is ACS
/// isolated, then multifunction siblings without ACS.
public struct GroupPrediction: Sendable {
    /// Groups, each sorted, ordered by their first member; ids are positions in this list.
    public let groups: [[PCIAddress]]
    private let groupOf: [PCIAddress: Int]

    public func group(of address: PCIAddress) -> Int? { groupOf[address] }

    /// An AMD-Vi unit's own function is left out: it does not translate its own requests and
    /// the kernel puts it in no group.
    public init(model: HostModel, policy: ACSPolicy = ACSPolicy()) {
        let translated = model.devices.filter { !$0.isAMDIOMMUFunction }
        var sets = DisjointSets(translated.map(\.address))
        for device in translated {
            // 1. DMA aliases: everything behind a PCIe-to-PCI (or conventional) bridge uses the
            //    topmost such bridge's requester ID (pci_for_each_dma_alias()).
            let representative = Self.dmaAliasRepresentative(of: device, in: model)
            sets.union(device.address, representative.address)
            // 2. Up the hierarchy: join the bridge above unless its path to the root is isolated.
            var joinedBridge = false
            if let bridge = model.upstreamBridges(of: representative.address).first,
                !policy.pathEnabled(from: bridge, in: model)
            {
                sets.union(representative.address, bridge.address)
                joinedBridge = true
            }
            // 3. Multifunction siblings without ACS (get_pci_function_alias_group()).
            if !joinedBridge, representative.isMultifunction, !policy.evaluate(representative).enabled {
                for sibling in model.slotSiblings(of: representative.address)
                where !sibling.isAMDIOMMUFunction && !policy.evaluate(sibling).enabled {
                    sets.union(representative.address, sibling.address)
                }
            }
        }
        let grouped = Dictionary(grouping: translated.map(\.address), by: { sets.find($0) })
        let ordered = grouped.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
        groups = ordered
        var index: [PCIAddress: Int] = [:]
        for (id, members) in ordered.enumerated() { for member in members { index[member] = id } }
        groupOf = index
    }

    /// The topmost bridge above `device` that takes over its requester ID, or the device itself.
    public static func dmaAliasRepresentative(of device: PCIDevice, in model: HostModel) -> PCIDevice {
        var representative = device
        for bridge in model.upstreamBridges(of: device.address) where takesOverRequesterID(bridge) {
            representative = bridge
        }
        return representative
    }

    /// PCIe-to-PCI/X bridges alias by subordinate bus, PCI/X-to-PCIe bridges and conventional
    /// PCI bridges by their own ID; PCIe ports pass IDs through.
    public static func takesOverRequesterID(_ bridge: PCIDevice) -> Bool {
        guard let type = bridge.portType else { return bridge.config.express == nil }
        return type == .pcieToPCIBridge || type == .pciToPCIeBridge
    }
}

/// Union-find over addresses.
struct DisjointSets {
    private var parent: [PCIAddress: PCIAddress] = [:]

    init(_ members: [PCIAddress]) {
        for member in members { parent[member] = member }
    }

    mutating func find(_ x: PCIAddress) -> PCIAddress {
        var root = x
        while let next = parent[root], next != root { root = next }
        var current = x
        while let next = parent[current], next != root {
            parent[current] = root
            current = next
        }
        return root
    }

    mutating func union(_ a: PCIAddress, _ b: PCIAddress) {
        let (ra, rb) = (find(a), find(b))
        guard ra != rb else { return }
        // Keep the lower address as root so results do not depend on visiting order.
        if ra < rb { parent[rb] = ra } else { parent[ra] = rb }
    }
}
