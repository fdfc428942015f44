import Analysis
import PCIModel

/// What the hook knows about the guest a device goes to.
public struct GuestContext: Sendable {
    public var os: String?
    public var arch: String?
    public var machine: String?
    public var hostdevDriver: String?
    /// How many functions of this device's slot the guest is given.
    public var functionsOfSameDevice: Int

    public init(
        os: String? = nil, arch: String? = nil, machine: String? = nil, hostdevDriver: String? = nil,
        functionsOfSameDevice: Int = 1
    ) {
        self.os = os
        self.arch = arch
        self.machine = machine
        self.hostdevDriver = hostdevDriver
        self.functionsOfSameDevice = functionsOfSameDevice
    }
}

/// A quirk that matched a function.
public struct QuirkMatch: Sendable {
    public var quirk: Quirk
    /// True when the quirk also has guest criteria that only the hook can check: it applies
    /// *if* the guest is like that.
    public var dependsOnGuest: Bool
}

extension QuirkDatabase {
    /// Every quirk matching `device` on this host; guest criteria are checked when `guest`
    /// is given, else reported as pending.
    public func matches(for device: PCIDevice, in model: HostModel, policy: ACSPolicy, guest: GuestContext? = nil)
        -> [QuirkMatch]
    {
        matches(for: device, in: model, policy: policy, guest: guest, onHost: HostApplicability(self, model: model))
    }

    /// As `matches(for:in:policy:guest:)`, with the host conditions already evaluated for
    /// `model` (they are the same for every function: `QuirkEvaluation` evaluates them once).
    func matches(
        for device: PCIDevice, in model: HostModel, policy: ACSPolicy, guest: GuestContext? = nil,
        onHost: HostApplicability
    ) -> [QuirkMatch] {
        // Entries are read in place (`quirks[position].match`): copying a whole entry, with
        // its strings and lists, for every function and candidate was most of the matching.
        candidates.positions(for: device.vendorID).compactMap { position in
            guard onHost.applies(position), !quirks[position].isGuestScoped,
                Self.matches(quirks[position].match, device, model: model, policy: policy),
                Self.matchesUpstream(quirks[position].upstream, of: device, in: model)
            else { return nil }
            if let criteria = quirks[position].guest {
                guard let guest else { return QuirkMatch(quirk: quirks[position], dependsOnGuest: true) }
                guard Self.matches(criteria, guest) else { return nil }
            }
            return QuirkMatch(quirk: quirks[position], dependsOnGuest: false)
        }
    }

    /// Guest-scoped quirks (no device criteria) that apply to this guest: slot limits,
    /// legacy assignment. Checked by the libvirt hook.
    public func guestQuirks(for guest: GuestContext, in model: HostModel) -> [Quirk] {
        quirks.filter { quirk in
            quirk.isGuestScoped && quirk.guest.map { Self.matches($0, guest) } ?? false
                && (quirk.host.map { Self.matches($0, model: model) } ?? true)
        }
    }

    /// The kernel's device-specific ACS answer from the isolation quirks, first match wins
    /// (`pci_dev_specific_acs_enabled()`), for `ACSPolicy`.
    public func acsQuirk(for model: HostModel) -> ACSPolicy.Quirk {
        let isolation: [(quirk: Quirk, rule: IsolationRule)] = quirks.compactMap { quirk in
            guard case .isolation(let rule) = quirk.effect, quirk.host.map({ Self.matches($0, model: model) }) ?? true
            else { return nil }
            return (quirk, rule)
        }
        // Indexed by vendor: this runs for every ACS evaluation of every function.
        let index = VendorIndex(isolation.map(\.quirk))
        let plain = ACSPolicy()
        return { device, flags in
            for position in index.positions(for: device.vendorID) {
                guard Self.matches(isolation[position].quirk.match, device, model: nil, policy: plain) else { continue }
                if let enabled = isolation[position].rule.enabled(for: flags, device: device) {
                    return (isolation[position].quirk.id, enabled)
                }
            }
            return nil
        }
    }

    /// Which entries' `[quirk.host]` conditions hold on one host, by database position.
    struct HostApplicability: Sendable {
        private let holds: [Bool]

        init(_ database: QuirkDatabase, model: HostModel) {
            holds = database.quirks.map { quirk in quirk.host.map { QuirkDatabase.matches($0, model: model) } ?? true }
        }

        func applies(_ position: Int) -> Bool { holds[position] }
    }

    // MARK: - Criteria

    static func matches(_ c: DeviceCriteria, _ device: PCIDevice, model: HostModel?, policy: ACSPolicy) -> Bool {
        if let set = c.vendor, !set.contains(UInt32(device.vendorID)) { return false }
        if let set = c.device, !set.contains(UInt32(device.deviceID)) { return false }
        if let set = c.subsystemVendor, !(device.config.subsystemVendorID.map { set.contains(UInt32($0)) } ?? false) {
            return false
        }
        if let set = c.subsystemDevice, !(device.config.subsystemID.map { set.contains(UInt32($0)) } ?? false) {
            return false
        }
        if let set = c.revision, !set.contains(UInt32(device.config.revision)) { return false }
        if let prefix = c.classPrefix, !classCode(device.config.classCode, startsWith: prefix) { return false }
        if let types = c.portTypes, !(device.portType.map(types.contains) ?? false) { return false }
        if let multifunction = c.multifunction, device.isMultifunction != multifunction { return false }
        if let rootBus = c.rootBus, (device.parent == nil) != rootBus { return false }
        if let wanted = c.capabilities, !wanted.contains(where: { has($0, device.config) }) { return false }
        if let words = c.nameLacks, let name = device.name?.lowercased(),
            words.contains(where: { name.contains($0.lowercased()) })
        {
            return false
        }
        if c.acsPath != nil {
            guard let model else { return false }
            if model.upstreamBridges(of: device.address).allSatisfy({ policy.evaluate($0).enabled }) { return false }
        }
        return true
    }

    /// Whether the six hex digits of `classCode` start with `prefix` (lower-case hex, as the
    /// decoder stores it), without formatting the code for every function.
    static func classCode(_ classCode: UInt32, startsWith prefix: String) -> Bool {
        var shift = 20
        for byte in prefix.utf8 {
            guard shift >= 0 else { return false }
            guard byte == hexDigit(UInt8(truncatingIfNeeded: classCode >> UInt32(shift)) & 0xf) else { return false }
            shift -= 4
        }
        return true
    }

    private static func has(_ capability: String, _ config: DecodedConfig) -> Bool {
        switch capability {
        case "msi": config.msi != nil
        case "msix": config.msix != nil
        case "sriov": config.sriov != nil
        case "ari": config.ari != nil
        case "acs": config.acs != nil
        case "aer": config.aer != nil
        case "flr": config.supportsFLR
        default: false
        }
    }

    /// Each criterion in order must match a bridge strictly above the previous match.
    static func matchesUpstream(_ chain: [DeviceCriteria], of device: PCIDevice, in model: HostModel) -> Bool {
        guard !chain.isEmpty else { return true }
        var bridges = model.upstreamBridges(of: device.address)[...]
        for criteria in chain {
            guard let index = bridges.firstIndex(where: { matches(criteria, $0, model: nil, policy: ACSPolicy()) })
            else { return false }
            bridges = bridges[(index + 1)...]
        }
        return true
    }

    /// Unknown facts (an lspci dump has no command line) count as not matching a required
    /// condition, and as matching an absence.
    static func matches(_ h: HostCriteria, model: HostModel) -> Bool {
        let facts = model.facts
        let words = Set(facts.commandLineWords)
        if let vendors = h.cpuVendor, !(facts.cpuVendor.map(vendors.contains) ?? false) { return false }
        if let required = h.cmdlineHas, !required.allSatisfy(words.contains) { return false }
        if let forbidden = h.cmdlineLacks, forbidden.contains(where: words.contains) { return false }
        if let table = h.acpiTable {
            let present = table == "IVRS" ? facts.acpiIVRSTable : (table == "DMAR" ? facts.acpiDMARTable : nil)
            if present != true { return false }
        }
        if h.iommu == .on, model.kernelGroups?.isEmpty == true { return false }
        // An unknown kernel applies the quirk: the database models today's kernel.
        if let constraint = h.kernel, let version = facts.kernelVersion, !constraint.isSatisfied(by: version) {
            return false
        }
        return true
    }

    static func matches(_ g: GuestCriteria, _ guest: GuestContext) -> Bool {
        if let os = g.os, !(guest.os.map(os.contains) ?? false) { return false }
        if let arch = g.arch, !(guest.arch.map(arch.contains) ?? false) { return false }
        if let machines = g.machine {
            guard let machine = guest.machine else { return false }
            let hit = machines.contains { pattern in
                pattern.hasSuffix("*") ? machine.hasPrefix(pattern.dropLast()) : machine == pattern
            }
            if !hit { return false }
        }
        if let drivers = g.hostdevDriver, !(guest.hostdevDriver.map(drivers.contains) ?? false) { return false }
        if let multiple = g.multipleFunctions, (guest.functionsOfSameDevice > 1) != multiple { return false }
        return true
    }
}
