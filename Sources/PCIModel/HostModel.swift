/// The one model of a host that every analysis reads: its PCI functions, the kernel's
/// IOMMU groups where known, and the host facts the verdicts depend on.
public struct HostModel: Sendable {
    /// Where the model came from, for reports ("live host", "snapshot seed.tar.gz", …).
    public var source: String
    /// Every function, sorted by address.
    public private(set) var devices: [PCIDevice]
    private var index: [PCIAddress: Int]
    private var slotIndex: [PCISlot: [Int]]
    private var childIndex: [PCIAddress: [Int]]
    /// Each function's upstream bridge as a position in `devices` (nil on a root bus, or
    /// when the bridge is not in the model): the chains walked for every function.
    private var parentPosition: [Int?]
    /// Kernel IOMMU groups (`kernel/iommu_groups`): nil when the source cannot tell (an lspci
    /// dump); empty when the kernel has none (IOMMU off).
    public var kernelGroups: [Int: [PCIAddress]]?
    /// Each kernel group's default-domain type (`kernel/iommu_groups/N/type`); a group whose
    /// file is absent (Linux < 5.2, or an lspci dump) has no entry.
    public var groupTypes: [Int: IOMMUGroupType] = [:]
    /// Groups whose VFIO group device `/dev/vfio/N` exists in the source (the group is
    /// VFIO-owned and viable; the container interface).
    public var vfioGroupNodes: Set<Int> = []
    public var facts: HostFacts
    /// Problems met while reading the source that did not stop it (a broken symlink, a file
    /// that could not be parsed), each naming what and where.
    public var anomalies: [String]
    /// Raw config bytes per function, kept only when a reader was asked to (for writing
    /// snapshots); empty otherwise, so inspecting a large host stays small.
    public var configBytes: [PCIAddress: [UInt8]]

    public init(
        source: String, devices: [PCIDevice], kernelGroups: [Int: [PCIAddress]]?, facts: HostFacts,
        anomalies: [String] = [], configBytes: [PCIAddress: [UInt8]] = [:]
    ) {
        self.configBytes = configBytes
        self.source = source
        let sorted = devices.sorted { $0.address < $1.address }
        self.devices = sorted
        self.index = Dictionary(sorted.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { a, _ in a })
        self.slotIndex = Dictionary(grouping: sorted.indices, by: { sorted[$0].address.slot })
        var children: [PCIAddress: [Int]] = [:]
        for (position, device) in sorted.enumerated() {
            if let parent = device.parent { children[parent, default: []].append(position) }
        }
        self.childIndex = children
        let index = self.index
        self.parentPosition = sorted.map { $0.parent.flatMap { index[$0] } }
        self.kernelGroups = kernelGroups
        self.facts = facts
        self.anomalies = anomalies
    }

    /// The functions whose addresses are in `addresses`, in order; every function when nil.
    public func devices(in addresses: Set<PCIAddress>?) -> [PCIDevice] {
        addresses.map { wanted in devices.filter { wanted.contains($0.address) } } ?? devices
    }

    public subscript(address: PCIAddress) -> PCIDevice? {
        index[address].map { devices[$0] }
    }

    /// The function's upstream bridges, nearest first.
    public func upstreamBridges(of address: PCIAddress) -> [PCIDevice] {
        guard let start = index[address] else { return [] }
        var positions: [Int] = []
        var current = parentPosition[start]
        // A chain that comes back to a bridge already in it (a hostile tree) ends there.
        while let next = current, !positions.contains(next) {
            positions.append(next)
            current = parentPosition[next]
        }
        return positions.map { devices[$0] }
    }

    /// Functions on the same bus and slot (the multifunction package), excluding `address`.
    public func slotSiblings(of address: PCIAddress) -> [PCIDevice] {
        (slotIndex[address.slot] ?? []).map { devices[$0] }.filter { $0.address != address }
    }

    /// Functions whose upstream bridge is `address`.
    public func children(of address: PCIAddress) -> [PCIDevice] {
        (childIndex[address] ?? []).map { devices[$0] }
    }

    /// Derives each function's upstream bridge from bridge bus ranges, for sources without a
    /// sysfs path (lspci dumps): the bridge with the highest secondary bus whose
    /// secondary…subordinate range holds the function's bus. A function no bridge claims is
    /// on a root bus.
    public static func assignParentsFromBusRanges(_ devices: inout [PCIDevice]) {
        let bridges = devices.compactMap { device -> (PCIAddress, UInt8, UInt8)? in
            guard let secondary = device.config.secondaryBus, let subordinate = device.config.subordinateBus,
                secondary != 0, secondary <= subordinate
            else { return nil }
            return (device.address, secondary, subordinate)
        }
        for i in devices.indices {
            let address = devices[i].address
            let claim =
                bridges
                .filter {
                    $0.0.domain == address.domain && $0.0 != address && $0.1 <= address.bus && address.bus <= $0.2
                }
                .max { $0.1 < $1.1 }
            devices[i].parent = claim?.0
        }
    }
}

/// Host-wide facts, read from /proc and /sys (or a snapshot of them).
public struct HostFacts: Sendable {
    /// `/proc/cmdline`, nil when not available.
    public var kernelCommandLine: String?
    /// `/proc/sys/kernel/osrelease` (`6.12.117+deb12-amd64`), nil when not available.
    public var kernelRelease: String?
    /// IOMMU units under `class/iommu/`.
    public var iommuUnits: [IOMMUUnit]
    /// `firmware/acpi/tables/DMAR` (Intel) or `IVRS` (AMD) present; nil when unknown.
    public var acpiDMARTable: Bool?
    public var acpiIVRSTable: Bool?
    /// Whether vfio-pci can be had: loaded (`module/vfio_pci`), built in, or a module file.
    public var vfioPCIAvailability: ModuleAvailability
    /// Devices the host itself runs on (root file system, default-route NIC, boot console).
    public var hostDependencies: [HostDependency]
    /// `vendor_id` of the first CPU in `/proc/cpuinfo` (`GenuineIntel`, `AuthenticAMD`).
    public var cpuVendor: String?
    /// Display functions whose memory a firmware framebuffer holds, and the boot display
    /// (`boot_vga` 1) whatever holds it. Empty when none or when `/proc/iomem` was not read.
    public var firmwareFramebuffers: [FirmwareFramebuffer] = []
    /// `/dev/iommu` (iommufd, Linux ≥ 6.2) exists; nil when the source has no `dev/`
    /// (snapshots copy no device nodes).
    public var iommufdDevice: Bool?
    /// `/dev/vfio/vfio` (the VFIO container of the group interface) exists; nil as above.
    public var vfioContainerDevice: Bool?
    /// `/proc/sys/kernel/hostname`, nil when the source does not have it (lspci dumps,
    /// snapshots taken before vfioctl recorded it).
    public var hostname: String?
    /// The board as DMI names it (`/sys/class/dmi/id/board_vendor`, `board_name`,
    /// `product_name`), nil when none of them could be read.
    public var board: DMIBoard?
    /// `allow_unsafe_interrupts` of each loaded VFIO IOMMU back end (`Y` → true); a back end
    /// that is not loaded (no `module/NAME/parameters/`) has no entry.
    public var allowUnsafeInterrupts: [VFIOIOMMUBackend: Bool] = [:]

    public init(
        kernelCommandLine: String? = nil, iommuUnits: [IOMMUUnit] = [], acpiDMARTable: Bool? = nil,
        acpiIVRSTable: Bool? = nil, vfioPCIAvailability: ModuleAvailability = .unknown,
        hostDependencies: [HostDependency] = [], cpuVendor: String? = nil
    ) {
        self.cpuVendor = cpuVendor
        self.kernelCommandLine = kernelCommandLine
        self.iommuUnits = iommuUnits
        self.acpiDMARTable = acpiDMARTable
        self.acpiIVRSTable = acpiIVRSTable
        self.vfioPCIAvailability = vfioPCIAvailability
        self.hostDependencies = hostDependencies
    }

    /// The running kernel's version, from `kernelRelease`.
    public var kernelVersion: KernelVersion? { kernelRelease.flatMap(KernelVersion.init(release:)) }

    /// Kernel command-line words (`intel_iommu=on`, `iommu=pt`, …).
    public var commandLineWords: [String] {
        kernelCommandLine?.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init) ?? []
    }
}

/// One hardware IOMMU as sysfs lists it under `class/iommu/`.
public struct IOMMUUnit: Sendable, Equatable {
    public enum Kind: String, Sendable { case intel, amd, other }
    public var name: String
    public var kind: Kind
    /// Intel `intel-iommu/cap` and `ecap` (hex text in sysfs); AMD `amd-iommu/cap` and the
    /// EFR from `features`.
    public var capability: UInt64?
    public var extendedCapability: UInt64?
    /// AMD only: EFR2 from `features` (see `AMDIOMMUFeatures.FeaturesOrder`).
    public var extendedCapability2: UInt64?
    /// Functions this unit translates for (`class/iommu/NAME/devices/*`).
    public var devices: [PCIAddress]

    public init(
        name: String, kind: Kind, capability: UInt64? = nil, extendedCapability: UInt64? = nil,
        devices: [PCIAddress] = []
    ) {
        self.name = name
        self.kind = kind
        self.capability = capability
        self.extendedCapability = extendedCapability
        self.devices = devices
    }

    /// The decoded Intel registers, when this is a DMAR unit whose cap and ecap were read.
    public var intel: IntelIOMMUCapability? {
        guard kind == .intel, let capability, let extendedCapability else { return nil }
        return IntelIOMMUCapability(capability: capability, extendedCapability: extendedCapability)
    }

    /// The decoded AMD-Vi registers, when this is an IVHD unit whose `cap` was read.
    public var amd: AMDIOMMUFeatures? {
        guard kind == .amd, let capability else { return nil }
        return AMDIOMMUFeatures(
            capabilityHeader: UInt32(truncatingIfNeeded: capability), extendedFeatures: extendedCapability,
            extendedFeatures2: extendedCapability2)
    }

    /// Intel ECAP bit 3: interrupt remapping supported.
    public var supportsInterruptRemapping: Bool? {
        guard kind == .intel, let ecap = extendedCapability else { return nil }
        return ecap & (1 << 3) != 0
    }
}

public enum ModuleAvailability: String, Sendable {
    case loaded, builtin, available, missing, unknown
}

/// A PCI function the running host depends on; giving it to a guest takes it from the host.
public struct HostDependency: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case rootFilesystem = "root-filesystem"
        case defaultRoute = "default-route"
        case bootVGA = "boot-vga"
    }
    public var address: PCIAddress
    public var kind: Kind
    /// What ties the host to it: "/ on /dev/nvme0n1p2", "default route via eth0".
    public var detail: String

    public init(address: PCIAddress, kind: Kind, detail: String) {
        self.address = address
        self.kind = kind
        self.detail = detail
    }
}

extension HostModel {
    /// The port that contains an uncorrectable error of `address` by DPC: the function itself
    /// when it is such a port, else the nearest upstream port whose DPC trigger is enabled
    /// (`DPCCapability.contains`). nil when errors there are left to AER alone.
    public func containingPort(of address: PCIAddress) -> PCIDevice? {
        if let device = self[address], device.config.dpc?.contains == true { return device }
        return upstreamBridges(of: address).first { $0.config.dpc?.contains == true }
    }
}

extension HostModel {
    /// This model with some functions' ACS Control words replaced, as a what-if: everything
    /// that reads `config.acs.control` (prediction, reasons) then sees the assumed word.
    /// Functions without an ACS capability are left as they are.
    public func withACSControl(_ controls: [PCIAddress: ACSFlags]) -> HostModel {
        var changed = self
        changed.devices = devices.map { device in
            guard let control = controls[device.address], device.config.acs != nil else { return device }
            var copy = device
            copy.config.acs?.control = control
            return copy
        }
        return changed
    }
}

/// A board as the firmware's DMI tables name it (`/sys/class/dmi/id/`): what `vfioctl
/// report` groups hosts by. Serial numbers and UUIDs (root-only files) are never read.
public struct DMIBoard: Sendable, Hashable {
    /// `board_vendor`.
    public var vendor: String?
    /// `board_name`.
    public var name: String?
    /// `product_name` (the system, which tells apart boards of one name in different chassis).
    public var product: String?

    public init(vendor: String?, name: String?, product: String?) {
        self.vendor = vendor
        self.name = name
        self.product = product
    }

    /// `ASUSTeK COMPUTER INC. P6T6 WS REVOLUTION (System Product Name)`.
    public var description: String {
        var text = [vendor, name].compactMap { $0 }.joined(separator: " ")
        if let product { text += (text.isEmpty ? "" : " ") + "(\(product))" }
        return text
    }
}
