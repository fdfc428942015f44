import PCIModel

/// What hosts are grouped by: hosts of one board are compared function by function, since
/// the same slot holds the same address on each.
public enum FleetBoard: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The board the firmware names (`/sys/class/dmi/id/board_*`, `product_name`).
    case dmi(DMIBoard)
    /// No DMI in the snapshot: the vendor:device ids of the bridges on the root buses (host
    /// bridge, root ports, ISA/LPC bridge), which name the chipset, sorted and unique. The
    /// description shows the first six; JSON has them all.
    case chipset([String])

    /// The board of `model`: DMI when recorded, else its chipset.
    public init(_ model: HostModel) {
        if let board = model.facts.board {
            self = .dmi(board)
            return
        }
        // Base class 0x06 (bridge) on a root bus: what the chipset puts there.
        let ids = model.devices.filter { $0.parent == nil && $0.config.baseClass == 0x06 }.map(\.ids)
        self = .chipset(Array(Set(ids)).sorted())
    }

    /// `dmi` or `chipset`, for scripts.
    public var kind: String {
        switch self {
        case .dmi: "dmi"
        case .chipset: "chipset"
        }
    }

    /// `vendor "QEMU", product "Standard PC (Q35 + ICH9, 2009)"` (the DMI strings present,
    /// each quoted), or `chipset 8086:29c0 8086:2918 …`.
    public var description: String {
        switch self {
        case .dmi(let board):
            // Each part quoted and named: `ACME Big` + `Board` and `ACME` + `Big Board` are two
            // boards and must not read as one.
            [("vendor", board.vendor), ("board", board.name), ("product", board.product)]
                .compactMap { label, value in value.map { "\(label) \"\($0)\"" } }.joined(separator: ", ")
        case .chipset(let ids):
            ids.isEmpty
                ? "unknown (no DMI, no root-bus bridges)"
                : "chipset " + ids.prefix(6).joined(separator: " ")
                    + (ids.count > 6 ? " and \(ids.count - 6) more ids" : "")
        }
    }

    /// DMI boards first (by vendor, name, product), then chipsets by their ids.
    public static func < (lhs: FleetBoard, rhs: FleetBoard) -> Bool {
        switch (lhs, rhs) {
        case (.dmi(let a), .dmi(let b)):
            return [a.vendor ?? "", a.name ?? "", a.product ?? ""].lexicographicallyPrecedes([
                b.vendor ?? "", b.name ?? "", b.product ?? "",
            ])
        case (.chipset(let a), .chipset(let b)): return a.lexicographicallyPrecedes(b)
        case (.dmi, .chipset): return true
        case (.chipset, .dmi): return false
        }
    }
}
