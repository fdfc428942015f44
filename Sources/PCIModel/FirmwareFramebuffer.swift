/// What holds a display function's memory besides its own driver: the framebuffer firmware
/// set up for the boot console, claimed by sysfb (`BOOTFB`, drivers/firmware/sysfb.c), simpledrm,
/// efifb or vesafb. While it is held, vfio-pci's `pci_request_regions()` fails with
/// "BAR N: can't reserve [mem …]" and the device cannot be given to a guest.
public struct FirmwareFramebuffer: Sendable, Equatable {
    /// Who claimed the memory, from the region's name in `/proc/iomem`.
    public enum Holder: String, Sendable, CaseIterable {
        /// The sysfb platform device's resource (kernel ≥ 5.15 registers it for simpledrm/efifb).
        case sysfb = "BOOTFB"
        case simpledrm
        case simplefb = "simple-framebuffer"
        case efifb
        case vesafb
        /// Any other region nested in the function's BAR by something that is not its driver.
        case other

        /// The kernel parameter that keeps it from claiming the memory at boot.
        public var releasingParameter: String {
            switch self {
            case .sysfb, .simpledrm, .simplefb, .other: "initcall_blacklist=sysfb_init"
            case .efifb: "video=efifb:off"
            case .vesafb: "video=vesafb:off"
            }
        }
    }

    /// One claimed region: its `/proc/iomem` name and range (zeros when the file was read
    /// without CAP_SYS_ADMIN, which hides addresses), and the BAR it lies in when known.
    public struct Region: Sendable, Equatable {
        public var name: String
        public var holder: Holder
        public var start: UInt64
        public var end: UInt64
        public var bar: Int?
        public init(name: String, holder: Holder, start: UInt64, end: UInt64, bar: Int? = nil) {
            self.name = name
            self.holder = holder
            self.start = start
            self.end = end
            self.bar = bar
        }
    }

    /// A framebuffer device, `/sys/class/graphics/fbN`: its `name` and the device its
    /// `device` link names (`simple-framebuffer.0`, `efi-framebuffer.0`, a PCI address).
    public struct FramebufferDevice: Sendable, Equatable {
        public var node: String
        public var name: String?
        public var device: String?
        public init(node: String, name: String?, device: String?) {
            self.node = node
            self.name = name
            self.device = device
        }
    }

    public var address: PCIAddress
    public var regions: [Region]
    public var framebuffers: [FramebufferDevice]
    /// A virtual console is bound to a frame buffer device (`/sys/class/vtconsole/vtconN/name`
    /// "(M) frame buffer device" with `bind` 1): fbcon keeps the framebuffer busy. nil: unknown.
    public var consoleOnFramebuffer: Bool?

    public init(
        address: PCIAddress, regions: [Region], framebuffers: [FramebufferDevice], consoleOnFramebuffer: Bool?
    ) {
        self.address = address
        self.regions = regions
        self.framebuffers = framebuffers
        self.consoleOnFramebuffer = consoleOnFramebuffer
    }

    /// The kernel parameters that release the memory, one per kind of holder, in order.
    public var releasingParameters: [String] {
        var result: [String] = []
        for region in regions where !result.contains(region.holder.releasingParameter) {
            result.append(region.holder.releasingParameter)
        }
        return result
    }
}

/// `/proc/iomem`: the kernel's tree of memory resources, one per line
/// (`kernel/resource.c`, r_show: two spaces of indent per level, `start-end : name`).
public struct IOMemoryMap: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var depth: Int
        public var start: UInt64
        public var end: UInt64
        public var name: String
        /// Indices of the entries directly below this one.
        public var children: [Int]
    }

    public private(set) var entries: [Entry] = []

    /// Lines that do not parse are skipped; depth is capped at 32 (the kernel prints at most
    /// 5 levels), so hostile text cannot build a deep tree.
    public init(parsing text: String) {
        var stack: [Int] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let indent = line.prefix { $0 == " " }.count
            let body = line.dropFirst(indent)
            guard let separator = body.firstRange(of: " : "),
                let dash = body[..<separator.lowerBound].firstIndex(of: "-"),
                let start = UInt64(body[..<dash], radix: 16),
                let end = UInt64(body[body.index(after: dash)..<separator.lowerBound], radix: 16)
            else { continue }
            let depth = min(indent / 2, 32)
            while stack.count > depth { stack.removeLast() }
            let index = entries.count
            entries.append(
                Entry(depth: depth, start: start, end: end, name: String(body[separator.upperBound...]), children: []))
            if let parent = stack.last, entries[parent].depth < depth { entries[parent].children.append(index) }
            stack.append(index)
        }
    }

    /// Every entry below those named `name` (a PCI function's BARs are named by its address),
    /// once each, even when named entries nest in each other.
    public func descendants(ofEntriesNamed name: String) -> [Entry] {
        var seen = Set<Int>()
        var frontier = entries.indices.filter { entries[$0].name == name }.flatMap { entries[$0].children }
        while let next = frontier.popLast() {
            guard seen.insert(next).inserted else { continue }
            frontier += entries[next].children
        }
        return seen.sorted { (entries[$0].start, entries[$0].depth, $0) < (entries[$1].start, entries[$1].depth, $1) }
            .map { entries[$0] }
    }
}
