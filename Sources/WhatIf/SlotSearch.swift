import Analysis
import PCIModel

/// Where on this host a card would get an IOMMU group of its own: root and downstream ports
/// with a slot (PCIe Capabilities register, Slot Implemented). A card in such a slot is alone
/// when the port's whole path to the root passes the kernel's ACS test
/// (`pci_acs_path_enabled()`: the walk stops at the port), or when the walk would only join
/// bridges (the port's own group holds no endpoint).
public struct SlotOption: Sendable, Equatable {
    public var port: PCIAddress
    public var portIDs: String
    public var portType: PCIExpressCapability.PortType?
    /// Whether the port and every bridge above it pass the ACS test.
    public var pathIsolated: Bool
    /// Functions below the port now (the slot is taken when not empty).
    public var occupiedBy: [PCIAddress]

    public var isFree: Bool { occupiedBy.isEmpty }
}

public enum SlotSearch {
    /// Slots that would isolate a card placed in them, free ones first, then by address. The
    /// card's own current port is left out; a taken slot is listed only when its path isolates
    /// (then the card there would have to move too).
    public static func isolatingSlots(
        for address: PCIAddress, in model: HostModel, policy: ACSPolicy, prediction: GroupPrediction
    ) -> [SlotOption] {
        let current = model[address]?.parent
        return model.devices.compactMap { port -> SlotOption? in
            guard port.address != current, let express = port.config.express, express.slotImplemented,
                express.portType == .rootPort || express.portType == .downstreamPort
            else { return nil }
            let occupants = model.children(of: port.address).map(\.address)
            let pathIsolated = policy.pathEnabled(from: port, in: model)
            let onlyBridges =
                prediction.group(of: port.address).map { id in
                    prediction.groups[id].allSatisfy { model[$0]?.isBridge == true }
                } ?? false
            guard pathIsolated || (occupants.isEmpty && onlyBridges) else { return nil }
            return SlotOption(
                port: port.address, portIDs: port.ids, portType: port.portType, pathIsolated: pathIsolated,
                occupiedBy: occupants)
        }
        .sorted { ($0.isFree ? 0 : 1, $0.port) < ($1.isFree ? 0 : 1, $1.port) }
    }
}
