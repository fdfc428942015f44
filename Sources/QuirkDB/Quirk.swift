import PCIModel

/// One entry of the quirk database (Docs/quirks.md): what it matches and what it does.
public struct Quirk: Sendable {
    public enum Effect: Sendable, Equatable {
        /// The function counts as ACS-isolated (the kernel's `pci_dev_acs_enabled[]`).
        case isolation(IsolationRule)
        case block
        case warn
        case advice
        /// Names the module-reload sequence `vfioctl sriov igb-reload --sequence auto` uses.
        case sriovSequence(String)
        /// A guest machine type with a fixed number of PCI slots for devices (i440FX `pc`:
        /// 32 slots, 28 free once the host bridge and PIIX3 at slots 0 and 1 and the rest of
        /// the board are placed). The hook refuses a guest whose devices need more and that
        /// has no pci-bridge to add slots.
        case slotLimit(freeSlots: Int)
        /// The function resets reliably only by this method, which a module outside the
        /// kernel may provide (gnif/vendor-reset's `device_specific` for AMD GPUs whose FLR,
        /// PM and bus resets leave them hung): a caveat until `reset_method` puts it first.
        case resetMethod(ResetMethod)

        public var name: String {
            switch self {
            case .isolation: "isolation"
            case .block: "block"
            case .warn: "warn"
            case .advice: "advice"
            case .sriovSequence: "sriov-sequence"
            case .slotLimit: "slot-limit"
            case .resetMethod: "reset-method"
            }
        }

        public var isIsolation: Bool {
            if case .isolation = self { return true }
            return false
        }

        /// Every effect but isolation tells the administrator something, so needs `advice`.
        public var needsAdvice: Bool { !isIsolation }

        /// The reset method a `reset-method` quirk asks for.
        public var requiredResetMethod: ResetMethod? {
            if case .resetMethod(let method) = self { return method }
            return nil
        }
    }

    public var id: String
    public var title: String
    public var effect: Effect
    public var advice: String?
    public var references: [String]
    public var match: DeviceCriteria
    /// Bridges above the function, nearest first; each must match a bridge further up than
    /// the previous one ("behind 111d:8018 rev 0c, itself behind 8086:340a").
    public var upstream: [DeviceCriteria]
    public var guest: GuestCriteria?
    public var host: HostCriteria?
    /// Where it was defined, for messages: `Quirks/intel-82576.toml:12`.
    public var source: String

    /// A quirk without device criteria is about guests as a whole (slot limits, legacy
    /// assignment); only the hook applies it.
    public var isGuestScoped: Bool { match.isEmpty && upstream.isEmpty }
}

/// How an isolation quirk answers `pci_acs_enabled(dev, flags)`.
public struct IsolationRule: Sendable, Equatable {
    /// Requested flags are first reduced to these (`acs_flags &= …` in the kernel quirk).
    public var consider: ACSFlags?
    /// Flags the hardware provides as if enabled; the answer is "all requested ⊆ these".
    public var provides: ACSFlags
    /// Read the control word from this offset in the ACS capability instead (Intel
    /// Sunrise Point keeps it at +8: `INTEL_SPT_ACS_CTRL`).
    public var controlOffset: Int?

    /// `pci_acs_ctrl_enabled()` with this rule; nil when the rule needs an ACS capability
    /// the function lacks (the kernel quirk then falls through).
    public func enabled(for requested: ACSFlags, device: PCIDevice) -> Bool? {
        var flags = requested
        if let consider { flags.formIntersection(consider) }
        if controlOffset != nil {
            guard let acs = device.config.acs, let control = acs.dwordAt8 else { return nil }
            flags.formIntersection(acs.capability.union(.egressControl))
            return flags.subtracting(ACSFlags(rawValue: UInt16(truncatingIfNeeded: control))).isEmpty
        }
        return flags.subtracting(provides).isEmpty
    }
}

/// Criteria on one function. Every given criterion must hold; an empty one matches all.
public struct DeviceCriteria: Sendable {
    public var vendor: IDSet?
    public var device: IDSet?
    public var subsystemVendor: IDSet?
    public var subsystemDevice: IDSet?
    public var revision: IDSet?
    /// Hex prefix of the 24-bit class code: "06" bridges, "0604" PCI bridges, "030000" VGA.
    public var classPrefix: String?
    public var portTypes: [PCIExpressCapability.PortType]?
    public var multifunction: Bool?
    /// On a root bus (no upstream bridge).
    public var rootBus: Bool?
    /// Has any of these capabilities: "msi", "msix", "sriov", "ari", "acs", "aer".
    public var capabilities: [String]?
    /// The pci.ids name contains none of these (case-insensitive).
    public var nameLacks: [String]?
    /// "incomplete": some bridge above fails the kernel's ACS test.
    public var acsPath: String?

    public var isEmpty: Bool {
        vendor == nil && device == nil && subsystemVendor == nil && subsystemDevice == nil && revision == nil
            && classPrefix == nil && portTypes == nil && multifunction == nil && rootBus == nil && capabilities == nil
            && nameLacks == nil && acsPath == nil
    }
}

/// A set of ids or revisions: single values and inclusive ranges.
public struct IDSet: Sendable, Equatable, CustomStringConvertible {
    /// Sorted, with touching ranges merged (the kernel's id lists become a few ranges).
    public let ranges: [ClosedRange<UInt32>]

    public init(ranges: [ClosedRange<UInt32>]) {
        var merged: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        self.ranges = merged
    }

    public func contains(_ value: UInt32) -> Bool { ranges.contains { $0.contains(value) } }

    public var description: String {
        ranges.map {
            $0.lowerBound == $0.upperBound
                ? hex($0.lowerBound, width: 4) : "\(hex($0.lowerBound, width: 4))-\(hex($0.upperBound, width: 4))"
        }
        .joined(separator: ",")
    }
}

/// Criteria on the guest a device is given to; evaluated by the libvirt hook.
public struct GuestCriteria: Sendable {
    /// libosinfo ids (`http://microsoft.com/win/2k8`).
    public var os: [String]?
    /// Guest architectures (`i686`, `x86_64`).
    public var arch: [String]?
    /// Machine types; a trailing `*` matches a prefix (`pc-i440fx-*`).
    public var machine: [String]?
    /// `<driver name='…'/>` of the hostdev (`kvm` is legacy assignment).
    public var hostdevDriver: [String]?
    /// The guest gets more than one function of the same physical device.
    public var multipleFunctions: Bool?
}

/// Criteria on the host.
public struct HostCriteria: Sendable {
    /// `/proc/cpuinfo` vendor_id: `GenuineIntel`, `AuthenticAMD`.
    public var cpuVendor: [String]?
    /// Kernel command-line words that must all be present / must all be absent.
    public var cmdlineHas: [String]?
    public var cmdlineLacks: [String]?
    /// An ACPI table that must be present (`IVRS`, `DMAR`).
    public var acpiTable: String?
    /// Only while the IOMMU is on (or unknown, as prediction assumes).
    public var iommu: IOMMURequirement?
    /// `kernel = ">= 5.10"`: only on these kernel releases. An unknown kernel (lspci dumps,
    /// snapshots without `osrelease`) counts as satisfying it: the database models today's kernel.
    public var kernel: KernelConstraint?

    /// `iommu = "on"`, the one state a quirk can ask for.
    public enum IOMMURequirement: String, Sendable, CaseIterable { case on }
}

extension HostCriteria {
    /// The conditions in words, for messages: "CPU AuthenticAMD, command line has iommu=pt".
    public var summary: String {
        var parts: [String] = []
        if let vendors = cpuVendor { parts.append("CPU \(vendors.joined(separator: " or "))") }
        if let words = cmdlineHas { parts.append("command line has \(words.joined(separator: " "))") }
        if let words = cmdlineLacks { parts.append("command line lacks \(words.joined(separator: " "))") }
        if let acpiTable { parts.append("ACPI table \(acpiTable)") }
        if iommu != nil { parts.append("IOMMU on") }
        if let kernel { parts.append("kernel \(kernel)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
