import PCIModel

/// What the hook needs from a libvirt domain definition (formatdomain.html): the guest's
/// identity, machine, memory backing, and every PCI device it takes from the host.
public struct LibvirtDomain: Sendable {
    /// A host PCI function given to the guest: `<hostdev type='pci'>` or `<interface type='hostdev'>`.
    public struct PCIHostdev: Sendable, Equatable {
        public enum Kind: String, Sendable { case hostdev, interface }
        public var address: PCIAddress
        public var kind: Kind
        /// `managed='yes'`: libvirt detaches and reattaches the device itself.
        public var managed: Bool
        /// `<driver name='vfio|kvm'/>`; nil means libvirt's default (VFIO).
        public var driver: String?
        /// The guest-side PCI address, when the XML gives bus, slot and function.
        public var guestSlot: (bus: Int, slot: Int, function: Int)?
        /// Line of the element in the XML, for messages.
        public var line: Int

        public static func == (lhs: PCIHostdev, rhs: PCIHostdev) -> Bool {
            lhs.address == rhs.address && lhs.kind == rhs.kind && lhs.managed == rhs.managed && lhs.driver == rhs.driver
        }
    }

    /// A hostdev that is not a host PCI function (USB, SCSI, mdev such as vfio-ccw or vfio-ap,
    /// a hostdev interface with a USB source): libvirt's to handle, the hook only notes it.
    public struct OtherHostdev: Sendable, Equatable {
        /// `hostdev type='usb'`, `interface type='hostdev' (usb source)`.
        public var kind: String
        public var line: Int

        public init(kind: String, line: Int) {
            self.kind = kind
            self.line = line
        }
    }

    /// `<memoryBacking><hugepages>`.
    public struct HugepageBacking: Sendable, Equatable {
        /// `<page size= unit= nodeset=/>`.
        public struct Page: Sendable, Equatable {
            /// In KiB; nil for `<hugepages/>` without pages: the host's default size.
            public var sizeKiB: Int?
            /// The guest NUMA cells (`nodeset`) this size backs; nil: every cell no other page
            /// names (or the whole guest without `<numa>`).
            public var guestCells: Set<Int>?
            public var line: Int
        }
        public var pages: [Page]
        /// The sizes in document order (nil = the host's default size).
        public var pageSizesKiB: [Int?] { pages.map(\.sizeKiB) }
    }

    /// `<cpu><numa><cell id= memory= unit=/>`.
    public struct NUMACell: Sendable, Equatable {
        public var id: Int
        public var memoryKiB: Int
        public var line: Int
    }

    /// A part of the guest's memory backed by hugepages of one size, from one set of host
    /// nodes: one per page size and `<numatune>` binding.
    public struct HugepageDemand: Sendable, Equatable {
        /// Page size in KiB (`defaultHugepageKiB` for `<hugepages/>` without a size).
        public var sizeKiB: Int
        /// The memory these pages back, KiB.
        public var memoryKiB: Int
        /// Pages needed: each cell's memory rounded up to whole pages, summed.
        public var pages: Int
        /// The guest NUMA cells; empty for a guest without `<numa>`.
        public var guestCells: [Int]
        /// Host NUMA nodes the memory must come from (`<numatune>` mode `strict`); nil: any.
        public var hostNodes: Set<Int>?

        public init(sizeKiB: Int, memoryKiB: Int, pages: Int, guestCells: [Int], hostNodes: Set<Int>?) {
            self.sizeKiB = sizeKiB
            self.memoryKiB = memoryKiB
            self.pages = pages
            self.guestCells = guestCells
            self.hostNodes = hostNodes
        }
    }

    /// The size `<hugepages/>` without `<page>` means: the kernel's default hugepage size,
    /// 2 MiB on x86-64.
    public static let defaultHugepageKiB = 2048
    /// A `<page>` of the base page size means ordinary memory (libvirt's
    /// hugepages-default-system-size): nothing from a hugepage pool.
    public static let basePageKiB = 4

    public var name: String
    public var type: String
    /// `<memory>` in KiB.
    public var memoryKiB: Int
    /// `<os><type arch=… machine=…>`.
    public var arch: String?
    public var machine: String?
    /// libosinfo OS id from `<metadata><libosinfo:libosinfo><libosinfo:os id=…/>`.
    public var osID: String?
    public var hugepages: HugepageBacking?
    /// Guest NUMA cells, in document order; empty without `<cpu><numa>`.
    public var numaCells: [NUMACell]
    /// What the hugepage backing takes from the host's pools, from `hugepages`, `numaCells`
    /// and `<numatune>`; empty without hugepage backing.
    public var hugepageDemands: [HugepageDemand]
    public var hostdevs: [PCIHostdev]
    /// USB, SCSI, mdev hostdevs: not ours to check.
    public var otherHostdevs: [OtherHostdev]
    public var otherHostdevCount: Int { otherHostdevs.count }
    /// Guest slots taken on bus 0 by devices with explicit PCI addresses.
    public var usedGuestSlots: Set<Int>
    /// Guest PCI devices without an explicit address (each will take a slot on a pc machine).
    public var unaddressedDevices: Int
    /// A `pci-bridge` controller adds slots (no hotplug behind it).
    public var hasPCIBridge: Bool

    /// An x86 guest (`x86_64`, `i686`), or one whose XML names no arch (libvirt always does):
    /// only these are judged by x86 rules such as the pc machine's slot limit.
    public var isX86: Bool { arch.map { ["x86_64", "i686"].contains($0) } ?? true }

    /// Parses domain XML; errors name the line and what is wrong.
    public init(xml: String) throws(DomainXMLError) {
        try self.init(bytes: Array(xml.utf8))
    }

    /// Parses domain XML as read from stdin: bounded by `DomainXMLLimits`, UTF-8 checked.
    public init(bytes: [UInt8]) throws(DomainXMLError) {
        let root: XMLElement
        do {
            root = try XMLReader.parse(bytes: bytes)
        } catch {
            throw DomainXMLError(line: error.line, message: "not well-formed XML: \(error.message)")
        }
        guard root.name == "domain" else {
            throw DomainXMLError(line: root.line, message: "the document is <\(root.name)>, not a libvirt <domain>")
        }
        guard let name = root.child("name")?.text, !name.isEmpty else {
            throw DomainXMLError(line: root.line, message: "<domain> has no <name>")
        }
        self.name = name
        type = root["type"] ?? "kvm"
        memoryKiB =
            try root.child("memory").map { memory throws(DomainXMLError) in
                try LibvirtMemory.kibibytes(
                    memory.text, unit: memory["unit"], what: "<memory unit='\(memory["unit"] ?? "KiB")'>",
                    line: memory.line)
            } ?? 0
        arch = root.at("os/type")?["arch"]
        machine = root.at("os/type")?["machine"]
        osID =
            root.child("metadata")?.children.first { $0.name.hasSuffix(":libosinfo") }?
            .children.first { $0.name.hasSuffix(":os") }?["id"]
        let cells = try Self.numaCells(root)
        numaCells = cells
        if let element = root.at("memoryBacking/hugepages") {
            let backing = try Self.hugepageBacking(element, cells: cells)
            hugepages = backing
            hugepageDemands = Self.demands(
                backing, cells: cells, memoryKiB: memoryKiB, tune: try NUMATune(root.child("numatune")))
        } else {
            hugepages = nil
            hugepageDemands = []
        }
        var hostdevs: [PCIHostdev] = []
        var others: [OtherHostdev] = []
        var slots = Set<Int>()
        var unaddressed = 0
        var bridge = false
        for device in root.child("devices")?.children ?? [] {
            let sourceType = device.at("source/address")?["type"] ?? "pci"
            let isHostdev = device.name == "hostdev"
            let isHostdevInterface = device.name == "interface" && device["type"] == "hostdev"
            if (isHostdev && device["type"] == "pci" || isHostdevInterface) && sourceType == "pci" {
                guard let source = device.at("source/address") else {
                    throw DomainXMLError(line: device.line, message: "<\(device.name)> has no <source><address …/>")
                }
                let address = try Self.pciAddress(source)
                var guestSlot: (bus: Int, slot: Int, function: Int)?
                // s390 zPCI addresses may carry only <zpci uid= fid=/>: no slot to count.
                if let guest = device.children("address").first(where: { $0["type"] == "pci" }), guest["slot"] != nil {
                    guestSlot = (
                        try Self.number(guest, "bus"), try Self.number(guest, "slot"),
                        try Self.number(guest, "function")
                    )
                }
                hostdevs.append(
                    PCIHostdev(
                        address: address, kind: isHostdev ? .hostdev : .interface,
                        managed: (device["managed"] ?? "no") == "yes", driver: device.child("driver")?["name"],
                        guestSlot: guestSlot, line: device.line))
                let placed = device.children("address").contains { $0["type"] != "pci" || $0["slot"] != nil }
                if !placed { unaddressed += 1 }
            } else if isHostdev {
                others.append(OtherHostdev(kind: "hostdev type='\(device["type"] ?? "?")'", line: device.line))
            } else if isHostdevInterface {
                others.append(OtherHostdev(kind: "interface type='hostdev' (\(sourceType) source)", line: device.line))
            }
            if device.name == "controller", device["type"] == "pci", device["model"] == "pci-bridge" { bridge = true }
            for address in device.children("address") where address["type"] == "pci" {
                if (try? Self.number(address, "bus")) == 0, let slot = try? Self.number(address, "slot") {
                    slots.insert(slot)
                }
            }
        }
        self.hostdevs = hostdevs
        otherHostdevs = others
        usedGuestSlots = slots
        unaddressedDevices = unaddressed
        hasPCIBridge = bridge
    }

    // MARK: - Hugepages and NUMA

    /// `<cpu><numa><cell>`: ids (or their position when libvirt's older XML has none) and
    /// memory in KiB.
    static func numaCells(_ root: XMLElement) throws(DomainXMLError) -> [NUMACell] {
        var cells: [NUMACell] = []
        var ids = Set<Int>()
        for (index, cell) in (root.at("cpu/numa")?.children("cell") ?? []).enumerated() {
            let id = cell["id"] == nil ? index : try number(cell, "id")
            guard (0...DomainXMLLimits.maximumNUMANode).contains(id), ids.insert(id).inserted else {
                throw DomainXMLError(
                    line: cell.line, message: "<cell id='\(id)'> is repeated or not a NUMA node number (0-1023)")
            }
            guard let memory = cell["memory"] else {
                throw DomainXMLError(line: cell.line, message: "<cell id='\(id)'> has no memory=")
            }
            let kib = try LibvirtMemory.kibibytes(
                memory, unit: cell["unit"], what: "<cell id='\(id)' memory='\(memory.prefix(40))'>", line: cell.line)
            cells.append(NUMACell(id: id, memoryKiB: kib, line: cell.line))
        }
        return cells
    }

    /// The `<page>` list as libvirt validates it (virDomainDefPostParseMemtune,
    /// virDomainDefMemtuneValidate): a size above zero; at most one page without nodeset;
    /// nodesets that do not intersect and name existing cells; without `<numa>`, a nodeset of
    /// exactly 0 means the whole guest.
    static func hugepageBacking(_ element: XMLElement, cells: [NUMACell]) throws(DomainXMLError)
        -> HugepageBacking
    {
        let cellIDs = Set(cells.map(\.id))
        var pages: [HugepageBacking.Page] = []
        for page in element.children("page") {
            guard let size = page["size"] else {
                throw DomainXMLError(line: page.line, message: "<page> has no size=")
            }
            let what = "<page size='\(size.prefix(40))'\(page["unit"].map { " unit='\($0)'" } ?? "")>"
            let kib = try LibvirtMemory.kibibytes(size, unit: page["unit"], what: what, line: page.line)
            guard kib > 0 else {
                throw DomainXMLError(line: page.line, message: "\(what): a hugepage size must be more than zero")
            }
            var nodes = try page["nodeset"].map { text throws(DomainXMLError) in
                try NodeSet.parse(text, what: "<page nodeset", line: page.line)
            }
            if cells.isEmpty, nodes == [0] { nodes = nil }
            if let nodes {
                if let missing = nodes.subtracting(cellIDs).min() {
                    throw DomainXMLError(
                        line: page.line,
                        message:
                            "\(what) nodeset names guest NUMA cell \(missing), which the guest does not have"
                            + (cells.isEmpty ? " (no <cpu><numa>)" : ""))
                }
                if let other = pages.first(where: { $0.guestCells.map { !$0.isDisjoint(with: nodes) } ?? false }) {
                    throw DomainXMLError(
                        line: page.line,
                        message: "\(what) nodeset intersects the nodeset of the <page> on line \(other.line)")
                }
            } else if let other = pages.first(where: { $0.guestCells == nil }) {
                throw DomainXMLError(
                    line: page.line,
                    message: "\(what) and the <page> on line \(other.line) both have no nodeset: only one default size")
            }
            pages.append(.init(sizeKiB: kib, guestCells: nodes, line: page.line))
        }
        return HugepageBacking(
            pages: pages.isEmpty ? [.init(sizeKiB: nil, guestCells: nil, line: element.line)] : pages)
    }

    /// `<numatune>`: the host nodes memory is bound to in mode `strict` (libvirt's default
    /// mode), for the whole guest (`<memory>`) and per cell (`<memnode cellid=>`).
    struct NUMATune {
        var memory: Set<Int>?
        var cells: [Int: Set<Int>?] = [:]

        init(_ element: XMLElement?) throws(DomainXMLError) {
            guard let element else { return }
            if let memory = element.child("memory"), (memory["mode"] ?? "strict") == "strict",
                let nodeset = memory["nodeset"]
            {
                self.memory = try NodeSet.parse(nodeset, what: "<numatune><memory nodeset", line: memory.line)
            }
            for node in element.children("memnode") {
                let cell = try LibvirtDomain.number(node, "cellid")
                if (node["mode"] ?? "strict") == "strict", let nodeset = node["nodeset"] {
                    cells[cell] = try NodeSet.parse(nodeset, what: "<memnode nodeset", line: node.line)
                } else {
                    cells[cell] = .some(nil)
                }
            }
        }

        func hostNodes(cell: Int?) -> Set<Int>? {
            if let cell, let bound = cells[cell] { return bound }
            return memory
        }
    }

    /// Each cell's memory goes to the page whose nodeset names it, else to the page without
    /// one; a cell neither names is ordinary memory. Without `<numa>` all of `<memory>` goes
    /// to the page without nodeset.
    static func demands(_ backing: HugepageBacking, cells: [NUMACell], memoryKiB: Int, tune: NUMATune)
        -> [HugepageDemand]
    {
        let fallback = backing.pages.first { $0.guestCells == nil }
        let shares: [(page: HugepageBacking.Page, cell: Int?, memoryKiB: Int)] =
            cells.isEmpty
            ? fallback.map { [($0, nil, memoryKiB)] } ?? []
            : cells.compactMap { cell in
                let page = backing.pages.first { $0.guestCells?.contains(cell.id) ?? false } ?? fallback
                return page.map { ($0, cell.id, cell.memoryKiB) }
            }
        var demands: [HugepageDemand] = []
        for share in shares {
            let size = share.page.sizeKiB ?? defaultHugepageKiB
            guard size > basePageKiB else { continue }
            let pages = share.memoryKiB / size + (share.memoryKiB % size == 0 ? 0 : 1)
            let nodes = tune.hostNodes(cell: share.cell)
            if let index = demands.firstIndex(where: { $0.sizeKiB == size && $0.hostNodes == nodes }) {
                demands[index].memoryKiB = demands[index].memoryKiB.saturatingAdd(share.memoryKiB)
                demands[index].pages = demands[index].pages.saturatingAdd(pages)
                demands[index].guestCells += share.cell.map { [$0] } ?? []
            } else {
                demands.append(
                    HugepageDemand(
                        sizeKiB: size, memoryKiB: share.memoryKiB, pages: pages,
                        guestCells: share.cell.map { [$0] } ?? [], hostNodes: nodes))
            }
        }
        return demands
    }

    /// Pages needed per size (KiB → pages) over all demands: what the hook reserves.
    public var hugepagesNeeded: [Int: Int] {
        hugepageDemands.reduce(into: [:]) { result, demand in
            result[demand.sizeKiB] = (result[demand.sizeKiB] ?? 0).saturatingAdd(demand.pages)
        }
    }

    // MARK: - Numbers

    /// `<address domain= bus= slot= function=>` of a host device.
    static func pciAddress(_ element: XMLElement) throws(DomainXMLError) -> PCIAddress {
        let domain = element["domain"] == nil ? 0 : try number(element, "domain")
        let bus = try number(element, "bus")
        let slot = try number(element, "slot")
        let function = try number(element, "function")
        guard domain >= 0, domain <= 0xffff_ffff, (0...0xff).contains(bus), (0...0x1f).contains(slot),
            (0...7).contains(function)
        else {
            throw DomainXMLError(
                line: element.line,
                message: "PCI address out of range: domain \(domain) bus \(bus) slot \(slot) function \(function)")
        }
        return PCIAddress(domain: UInt32(domain), bus: UInt8(bus), device: UInt8(slot), function: UInt8(function))
    }

    /// A number as libvirt reads it (strtol base 0: `0x1f`, `017`, `31`).
    static func number(_ element: XMLElement, _ attribute: String) throws(DomainXMLError) -> Int {
        guard let text = element[attribute] else {
            throw DomainXMLError(line: element.line, message: "<\(element.name)> has no \(attribute)=")
        }
        let value: Int?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            value = Int(text.dropFirst(2), radix: 16)
        } else if text.count > 1, text.hasPrefix("0") {
            value = Int(text.dropFirst(), radix: 8)
        } else {
            value = Int(text)
        }
        guard let value else {
            throw DomainXMLError(line: element.line, message: "\(attribute)='\(text.prefix(40))' is not a number")
        }
        return value
    }

    /// Hostdevs that are functions of the same physical device (bus and slot).
    public func functionsOfSameDevice(as address: PCIAddress) -> Int {
        hostdevs.filter { $0.address.slot == address.slot }.count
    }
}

extension Int {
    /// The sum, or Int.max where it would overflow: totals of untrusted sizes never trap.
    public func saturatingAdd(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? Int.max : Int.min) : sum
    }
}

public struct DomainXMLError: Error, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { "domain XML line \(line): \(message)" }
}
