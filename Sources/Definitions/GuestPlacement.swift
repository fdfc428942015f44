import PCIModel

/// Where the hostdevs go in the guest (`vfioctl xml --guest-bus B --guest-slot S`): each host
/// card (the functions of one host slot) on one guest slot, from `firstSlot` up, functions
/// numbered from 0 in host order, `multifunction='on'` on function 0 of a slot holding more
/// than one (libvirt formatdomain.html "Device Addresses"; a guest finds the other functions
/// of a slot only through function 0's multifunction bit). SR-IOV VFs are never
/// multifunction: each gets a slot of its own.
public struct GuestPlacement: Sendable, Equatable {
    /// The guest PCI address of one hostdev (`<address type='pci' …/>` inside `<hostdev>`).
    public struct Address: Sendable, Equatable {
        public var bus: Int
        public var slot: Int
        public var function: Int
        public var multifunction: Bool
    }

    /// The guest's PCI bus (0 is the pc machine's root bus).
    public var bus: Int
    /// The first guest slot used.
    public var firstSlot: Int

    /// Slots per PCI bus (device numbers 0–31) and functions per slot (0–7).
    public static let slotsPerBus = 32
    public static let functionsPerSlot = 8

    public init(bus: Int, firstSlot: Int) {
        self.bus = bus
        self.firstSlot = firstSlot
    }

    /// A guest address for each of `functions` (in `functions`' order), or an error when they
    /// need slots beyond 31.
    public func addresses(for functions: [PCIDevice]) throws(DefinitionError) -> [PCIAddress: Address] {
        // Cards in order of their first function; a VF is a card of its own.
        var cards: [[PCIAddress]] = []
        var cardOfSlot: [PCISlot: Int] = [:]
        for device in functions.sorted(by: { $0.address < $1.address }) {
            if device.physicalFunction == nil, let index = cardOfSlot[device.address.slot] {
                cards[index].append(device.address)
            } else {
                if device.physicalFunction == nil { cardOfSlot[device.address.slot] = cards.count }
                cards.append([device.address])
            }
        }
        var result: [PCIAddress: Address] = [:]
        var slot = firstSlot
        for card in cards {
            // More than 8 functions (an ARI device) take several guest slots.
            var start = 0
            while start < card.count {
                let chunk = card[start..<min(start + Self.functionsPerSlot, card.count)]
                guard slot < Self.slotsPerBus else {
                    throw DefinitionError(
                        .placement,
                        "\(functions.count) functions need guest slots \(firstSlot) to beyond 31 on bus \(bus); give a lower --guest-slot or another --guest-bus"
                    )
                }
                for (function, address) in chunk.enumerated() {
                    result[address] = Address(
                        bus: bus, slot: slot, function: function, multifunction: function == 0 && chunk.count > 1)
                }
                slot += 1
                start += Self.functionsPerSlot
            }
        }
        return result
    }
}
