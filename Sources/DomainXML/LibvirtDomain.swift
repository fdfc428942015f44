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
        /// The guest-side PCI address, when the XML gives one.
        public var guestSlot: (bus: Int, slot: Int, function: Int)?
        /// Line of the element in the XML, for messages.
        public var line: Int

        public static func == (lhs: PCIHostdev, rhs: PCIHostdev) -> Bool {
            lhs.address == rhs.address && lhs.kind == rhs.kind && lhs.managed == rhs.managed && lhs.driver == rhs.driver
        }
    }

    /// `<memoryBacking><hugepages>`: page sizes in KiB (nil = the host's default size).
    public struct HugepageBacking: Sendable, Equatable {
        public var pageSizesKiB: [Int?]
    }

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
    public var hostdevs: [PCIHostdev]
    /// USB, SCSI, mdev hostdevs: not ours to check.
    public var otherHostdevCount: Int
    /// Guest slots taken on bus 0 by devices with explicit PCI addresses.
    public var usedGuestSlots: Set<Int>
    /// Guest PCI devices without an explicit address (each will take a slot on a pc machine).
    public var unaddressedDevices: Int
    /// A `pci-bridge` controller adds slots (no hotplug behind it).
    public var hasPCIBridge: Bool

    /// Parses domain XML; errors name the line and what is wrong.
    public init(xml: String) throws(DomainXMLError) {
        let root: XMLElement
        do {
            root = try XMLReader.parse(xml)
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
        memoryKiB = Self.kibibytes(root.child("memory"))
        arch = root.at("os/type")?["arch"]
        machine = root.at("os/type")?["machine"]
        osID =
            root.child("metadata")?.children.first { $0.name.hasSuffix(":libosinfo") }?
            .children.first { $0.name.hasSuffix(":os") }?["id"]
        if let backing = root.at("memoryBacking/hugepages") {
            let pages = backing.children("page").map { page -> Int? in
                guard let size = page["size"].flatMap({ Int($0) }) else { return nil }
                return Self.toKiB(size, unit: page["unit"] ?? "KiB")
            }
            hugepages = HugepageBacking(pageSizesKiB: pages.isEmpty ? [nil] : pages)
        }
        var hostdevs: [PCIHostdev] = []
        var other = 0
        var slots = Set<Int>()
        var unaddressed = 0
        var bridge = false
        for device in root.child("devices")?.children ?? [] {
            let isPCIHostdev = device.name == "hostdev" && device["type"] == "pci"
            let isHostdevInterface = device.name == "interface" && device["type"] == "hostdev"
            if isPCIHostdev || isHostdevInterface {
                guard let source = device.at("source/address") else {
                    throw DomainXMLError(line: device.line, message: "<\(device.name)> has no <source><address …/>")
                }
                let address = try Self.pciAddress(source)
                let guest = device.children("address").first { $0["type"] == "pci" }
                let guestSlot = try guest.map { element throws(DomainXMLError) in
                    (
                        try Self.number(element, "bus"), try Self.number(element, "slot"),
                        try Self.number(element, "function")
                    )
                }
                hostdevs.append(
                    PCIHostdev(
                        address: address, kind: isPCIHostdev ? .hostdev : .interface,
                        managed: (device["managed"] ?? "no") == "yes", driver: device.child("driver")?["name"],
                        guestSlot: guestSlot, line: device.line))
                if device.children("address").first(where: { $0["type"] == "unassigned" }) == nil, guestSlot == nil {
                    unaddressed += 1
                }
            } else if device.name == "hostdev" {
                other += 1
            }
            if device.name == "controller", device["type"] == "pci", device["model"] == "pci-bridge" { bridge = true }
            for address in device.children("address") where address["type"] == "pci" {
                if (try? Self.number(address, "bus")) == 0, let slot = try? Self.number(address, "slot") {
                    slots.insert(slot)
                }
            }
        }
        self.hostdevs = hostdevs
        otherHostdevCount = other
        usedGuestSlots = slots
        unaddressedDevices = unaddressed
        hasPCIBridge = bridge
    }

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
            throw DomainXMLError(line: element.line, message: "\(attribute)='\(text)' is not a number")
        }
        return value
    }

    static func kibibytes(_ element: XMLElement?) -> Int {
        guard let element, let value = Int(element.text) else { return 0 }
        return toKiB(value, unit: element["unit"] ?? "KiB")
    }

    static func toKiB(_ value: Int, unit: String) -> Int {
        switch unit.lowercased() {
        case "b", "bytes": value / 1024
        case "m", "mib": value * 1024
        case "g", "gib": value * 1024 * 1024
        default: value
        }
    }

    /// Hostdevs that are functions of the same physical device (bus and slot).
    public func functionsOfSameDevice(as address: PCIAddress) -> Int {
        hostdevs.filter { $0.address.slot == address.slot }.count
    }
}

public struct DomainXMLError: Error, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { "domain XML line \(line): \(message)" }
}
