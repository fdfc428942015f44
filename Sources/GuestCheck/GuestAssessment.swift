import Analysis
import DomainXML
import PCIModel
import QuirkDB

/// One problem or note about starting a guest, as a single line that names the device, the
/// reason and what to do.
public struct HookFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Level: String, Sendable { case refuse, warn, info }
    public var level: Level
    /// The functions it is about (one line for a quirk that hits both PFs).
    public var devices: [PCIAddress]
    public var message: String

    public init(level: Level, device: PCIAddress?, message: String) {
        self.level = level
        self.devices = device.map { [$0] } ?? []
        self.message = message
    }

    public var description: String {
        "\(level.rawValue): " + (devices.isEmpty ? "" : devices.map(\.description).joined(separator: ", ") + ": ")
            + message
    }
}

/// Everything the libvirt hook checks before a guest starts: that each PCI hostdev exists,
/// its IOMMU group is viable with this guest's other hostdevs, ACS/reset and host
/// dependencies allow it, the quirks that apply in this guest's context, guest slot limits,
/// and hugepage backing.
public struct GuestAssessment: Sendable {
    public let findings: [HookFinding]

    public var refused: Bool { findings.contains { $0.level == .refuse } }

    /// - Parameters:
    ///   - otherDomains: devices registered by other running guests (the hook's state).
    ///   - hugepages: the host's pools; nil skips the supply check (hook.toml `hugepages = "ignore"`).
    ///   - busReset: what a bus reset reaching the host's or another guest's functions does.
    public init(
        domain: LibvirtDomain, report: InspectReport, quirks: QuirkDatabase, policy: ACSPolicy,
        otherDomains: [String: [PCIAddress]] = [:], hugepages: HugepageSupply? = HugepageSupply(),
        busReset: BusResetPolicy = .refuse
    ) {
        var findings: [HookFinding] = []
        let model = report.model
        let hostdevAddresses = Set(domain.hostdevs.map(\.address))
        var owners: [PCIAddress: String] = [:]
        for (name, devices) in otherDomains.sorted(by: { $0.key < $1.key }) {
            for device in devices where owners[device] == nil { owners[device] = name }
        }
        let functionsPerSlot = domain.hostdevs.reduce(into: [PCISlot: Int]()) { $0[$1.address.slot, default: 0] += 1 }
        var seen = Set<PCIAddress>()
        for hostdev in domain.hostdevs {
            let address = hostdev.address
            guard seen.insert(address).inserted else {
                findings.append(
                    .init(
                        level: .refuse, device: address,
                        message: "given to the guest twice (line \(hostdev.line)); remove the duplicate <hostdev>"))
                continue
            }
            if let owner = owners[address] {
                findings.append(
                    .init(
                        level: .refuse, device: address,
                        message:
                            "registered to running guest \(owner); a PCI function goes to one guest at a time (if \(owner) is not running, its registration in the hook's state directory is stale: remove domains/\(owner))"
                    ))
                continue
            }
            guard let device = model[address] else {
                findings.append(
                    .init(
                        level: .refuse, device: address,
                        message:
                            "no such PCI function on this host (line \(hostdev.line)); fix the address with `virsh edit \(domain.name)`"
                    ))
                continue
            }
            findings += Self.deviceFindings(device, hostdev: hostdev, report: report)
            findings += Self.groupFindings(device, hostdevs: hostdevAddresses, report: report, owners: owners)
            findings += Self.busResetFindings(
                device, hostdevs: hostdevAddresses, model: model, owners: owners, policy: busReset)
            let guest = GuestContext(
                os: domain.osID, arch: domain.arch, machine: domain.machine, hostdevDriver: hostdev.driver,
                functionsOfSameDevice: functionsPerSlot[address.slot] ?? 1)
            for match in quirks.matches(for: device, in: model, policy: policy, guest: guest)
            where match.quirk.guest != nil || match.quirk.effect == .warn || match.quirk.effect == .block {
                findings.append(Self.finding(for: match.quirk, device: address))
            }
            for match in quirks.matches(for: device, in: model, policy: policy, guest: guest) {
                guard let method = match.quirk.effect.requiredResetMethod, match.quirk.guest == nil,
                    !QuirkEvaluation.resetMethodSet(method, on: device)
                else { continue }
                let current = device.resetMethods.map { $0.map(\.rawValue).joined(separator: " ") } ?? "absent"
                findings.append(
                    .init(
                        level: .warn, device: address,
                        message:
                            "[\(match.quirk.id)] \(match.quirk.title) (reset_method: \(current.isEmpty ? "none" : current)). \(match.quirk.advice ?? "")"
                    ))
            }
        }
        for other in domain.otherHostdevs {
            findings.append(
                .init(
                    level: .info, device: nil,
                    message: "\(other.kind) on line \(other.line) is not a host PCI function: left to libvirt"))
        }
        let guest = GuestContext(
            os: domain.osID, arch: domain.arch, machine: domain.machine,
            hostdevDriver: domain.hostdevs.compactMap(\.driver).first { $0 == "kvm" })
        for quirk in quirks.guestQuirks(for: guest, in: model) {
            switch quirk.effect {
            case .advice where domain.hostdevs.isEmpty:
                continue
            case .slotLimit(let freeSlots):
                // The pc machine's slot count is an x86 rule: other guests are not judged by it.
                if domain.isX86, !domain.hostdevs.isEmpty {
                    findings += Self.slotFindings(domain, quirk: quirk, freeSlots: freeSlots)
                }
            default:
                findings.append(Self.finding(for: quirk, device: nil))
            }
        }
        if !domain.isX86, !domain.hostdevs.isEmpty {
            findings.append(
                .init(
                    level: .info, device: nil,
                    message:
                        "guest arch \(domain.arch ?? "?") is not x86: its PCI functions get the host checks only, no x86 guest rules (pc slot limit)"
                ))
        }
        findings += Self.hugepageFindings(domain, model: model, supply: hugepages)
        // One line per problem: the same finding for several functions names them all.
        var merged: [HookFinding] = []
        var index: [String: Int] = [:]
        for finding in findings {
            let key = finding.level.rawValue + ":" + finding.message
            if let at = index[key] {
                merged[at].devices += finding.devices.filter { !merged[at].devices.contains($0) }
            } else {
                index[key] = merged.count
                merged.append(finding)
            }
        }
        self.findings = merged
    }

    /// Host-wide free pages only (size in KiB → free pages): `GuestAssessment(…, hugepages:
    /// HugepageSupply(free:))`.
    public init(
        domain: LibvirtDomain, report: InspectReport, quirks: QuirkDatabase, policy: ACSPolicy,
        otherDomains: [String: [PCIAddress]] = [:], freeHugepages: [Int: Int]
    ) {
        self.init(
            domain: domain, report: report, quirks: quirks, policy: policy, otherDomains: otherDomains,
            hugepages: HugepageSupply(free: freeHugepages))
    }

    static func finding(for quirk: Quirk, device: PCIAddress?) -> HookFinding {
        let level: HookFinding.Level =
            switch quirk.effect {
            case .block: .refuse
            case .warn: .warn
            default: .info
            }
        return HookFinding(level: level, device: device, message: "[\(quirk.id)] \(quirk.title). \(quirk.advice ?? "")")
    }

    /// IOMMU off, host dependencies, bridges, a missing group: refuse; no reset: warn.
    static func deviceFindings(_ device: PCIDevice, hostdev: LibvirtDomain.PCIHostdev, report: InspectReport)
        -> [HookFinding]
    {
        guard let assessment = report.assessment(of: device.address) else { return [] }
        var findings: [HookFinding] = []
        for reason in assessment.reasons {
            switch reason.code {
            case .iommuOff, .noIOMMUGroup, .hostDependency, .bridge, .vfioMissing:
                findings.append(.init(level: .refuse, device: device.address, message: reason.message))
            case .noReset, .noInterruptRemapping, .unsafeInterrupts:
                findings.append(.init(level: .warn, device: device.address, message: reason.message))
            default:
                break
            }
        }
        // libvirt hands an unmanaged hostdev to QEMU as it is: it must be VFIO-owned already
        // (vfio-pci or a variant driver; VFIOOwnership), not merely off its host driver.
        if !hostdev.managed, !device.isVFIOOwned {
            findings.append(
                .init(
                    level: .refuse, device: device.address,
                    message:
                        "unmanaged hostdev is \(device.vfioOwnership), not VFIO-owned; bind its group to vfio-pci (or a vfio-pci variant driver) first or set managed='yes'"
                ))
        }
        return findings
    }

    /// Every other endpoint of the group must come along, be VFIO-bound or driverless, and
    /// not belong to another running guest.
    static func groupFindings(
        _ device: PCIDevice, hostdevs: Set<PCIAddress>, report: InspectReport, owners: [PCIAddress: String]
    ) -> [HookFinding] {
        let model = report.model
        let members: [PCIAddress]
        if let group = device.iommuGroup, let kernel = model.kernelGroups?[group] {
            members = kernel
        } else if let predicted = report.prediction.group(of: device.address) {
            members = report.prediction.groups[predicted]
        } else {
            return []
        }
        var findings: [HookFinding] = []
        for member in members.sorted() where member != device.address && !hostdevs.contains(member) {
            guard let other = model[member], !other.isBridge else { continue }
            if let owner = owners[member] {
                findings.append(
                    .init(
                        level: .refuse, device: device.address,
                        message:
                            "shares its IOMMU group with \(member), which guest \(owner) is using; a group goes to one guest only"
                    ))
            } else if case .host(let driver) = other.vfioOwnership {
                findings.append(
                    .init(
                        level: .refuse, device: device.address,
                        message:
                            "shares its IOMMU group with \(member) (bound to \(driver)); give \(member) to this guest too, or bind it to vfio-pci"
                    ))
            }
        }
        return findings
    }

    /// A function whose only reset is a secondary bus reset of its parent bridge takes every
    /// other function below that bridge with it (`ResetCapability.busResetAlsoResets`,
    /// from topology: `reset_method` may list `bus` from before its bus-mates were scanned).
    /// Those the host uses (a host driver, a host dependency) or another running guest has
    /// make the start refused, or a warning under `bus-reset = "warn"`.
    static func busResetFindings(
        _ device: PCIDevice, hostdevs: Set<PCIAddress>, model: HostModel, owners: [PCIAddress: String],
        policy: BusResetPolicy
    ) -> [HookFinding] {
        let reset = ResetCapability(of: device, in: model)
        guard reset.busResetOnly, let bridge = reset.busResetBridge else { return [] }
        var victims: [String] = []
        for address in reset.busResetAlsoResets where !hostdevs.contains(address) {
            guard let other = model[address], !other.isBridge else { continue }
            if let owner = owners[address] {
                victims.append("\(address) (used by running guest \(owner))")
            } else if let dependency = model.facts.hostDependencies.first(where: { $0.address == address }) {
                victims.append("\(address) (the host depends on it: \(dependency.detail))")
            } else if let driver = other.driver, !["vfio-pci", "pci-stub"].contains(driver) {
                victims.append("\(address) (bound to host driver \(driver))")
            }
        }
        guard !victims.isEmpty else { return [] }
        let next =
            policy == .refuse
            ? "give those functions to this guest too or move them off the bus, or set bus-reset = \"warn\" in /etc/vfioctl/hook.toml to start anyway"
            : "starting anyway (bus-reset = \"warn\")"
        return [
            HookFinding(
                level: policy == .refuse ? .refuse : .warn, device: device.address,
                message:
                    "its only reset is a secondary bus reset of \(bridge), which also resets \(victims.joined(separator: ", ")): either the reset hits them, or the kernel and vfio-pci refuse it (they reset a bus only when every function on it is theirs) and state leaks between guests; \(next)"
            )
        ]
    }

    /// A `slot-limit` quirk: pc (i440FX) guests have 32 slots, 4 fixed, so `freeSlots` (28)
    /// for everything else, unless a pci-bridge adds more. Slots 0 (host bridge) and 1 (PIIX3)
    /// are the machine's own and not counted; devices libvirt has not addressed yet take one each.
    static func slotFindings(_ domain: LibvirtDomain, quirk: Quirk, freeSlots: Int) -> [HookFinding] {
        guard !domain.hasPCIBridge else { return [] }
        let taken = domain.usedGuestSlots.subtracting([0, 1]).count + domain.unaddressedDevices
        guard taken > freeSlots else { return [] }
        return [
            HookFinding(
                level: .refuse, device: nil,
                message:
                    "[\(quirk.id)] the guest needs \(taken) PCI slots but a pc machine has \(freeSlots) free. \(quirk.advice ?? "")"
            )
        ]
    }

    /// Hugepage backing: enough free pages of each size the guest's cells use, host-wide and
    /// on the host nodes `<numatune>` binds them to; and advice where the IOMMU would map large
    /// pages but the guest is not backed by them.
    static func hugepageFindings(_ domain: LibvirtDomain, model: HostModel, supply: HugepageSupply?)
        -> [HookFinding]
    {
        guard !domain.hostdevs.isEmpty || domain.hugepages != nil else { return [] }
        guard domain.hugepages != nil else {
            let verdicts = model.facts.iommuUnits.map {
                LargePageVerdict(unit: $0, commandLine: model.facts.commandLineWords)
            }
            guard let usable = verdicts.first(where: \.available) else { return [] }
            let sizes = usable.sizes.map(IntelIOMMUCapability.sizeName).joined(separator: "/")
            return [
                HookFinding(
                    level: .info, device: nil,
                    message:
                        "the IOMMU maps \(sizes) pages: back this guest by hugepages (<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>) to cut IOTLB misses"
                )
            ]
        }
        guard let supply else { return [] }
        var findings: [HookFinding] = []
        var sizes: [Int] = []
        var bySize: [Int: [LibvirtDomain.HugepageDemand]] = [:]
        for demand in domain.hugepageDemands {
            if bySize[demand.sizeKiB] == nil { sizes.append(demand.sizeKiB) }
            bySize[demand.sizeKiB, default: []].append(demand)
        }
        for size in sizes {
            let demands = bySize[size] ?? []
            let name = sizeName(size)
            let needed = demands.reduce(0) { $0.saturatingAdd($1.pages) }
            let memory = demands.reduce(0) { $0.saturatingAdd($1.memoryKiB) }
            let cells = demands.flatMap(\.guestCells).sorted()
            let whose = "the guest's \(memory / 1024) MiB" + cellsPhrase(cells)
            let pool = supply.hostWide[size]
            let free = pool?.free ?? 0
            if free < needed {
                findings.append(
                    HookFinding(
                        level: .refuse, device: nil,
                        message: "\(whose) need \(needed) free \(name) hugepages, the host has \(free); "
                            + remedy(size: name, pool: pool, missing: needed - free, node: nil)))
                continue
            }
            // Per host node: only where <numatune> binds memory strictly and the host's node
            // pools of this size are known.
            guard let nodePools = supply.perNode[size], !nodePools.isEmpty else { continue }
            var groups: [Set<Int>] = []
            var groupPages: [Set<Int>: Int] = [:]
            var groupMemory: [Set<Int>: Int] = [:]
            var groupCells: [Set<Int>: [Int]] = [:]
            for demand in demands {
                guard let nodes = demand.hostNodes else { continue }
                if groupPages[nodes] == nil { groups.append(nodes) }
                groupPages[nodes] = (groupPages[nodes] ?? 0).saturatingAdd(demand.pages)
                groupMemory[nodes] = (groupMemory[nodes] ?? 0).saturatingAdd(demand.memoryKiB)
                groupCells[nodes, default: []] += demand.guestCells
            }
            for nodes in groups {
                let needed = groupPages[nodes] ?? 0
                let free = nodes.reduce(0) { $0.saturatingAdd(nodePools[$1]?.free ?? 0) }
                guard free < needed else { continue }
                let nodeList = nodes.sorted().map(String.init).joined(separator: ",")
                let onNodes = nodes.count == 1 ? "host node \(nodeList)" : "host nodes \(nodeList)"
                let firstNode = nodes.min()
                findings.append(
                    HookFinding(
                        level: .refuse, device: nil,
                        message:
                            "the guest's \((groupMemory[nodes] ?? 0) / 1024) MiB\(cellsPhrase((groupCells[nodes] ?? []).sorted())) need \(needed) free \(name) hugepages on \(onNodes) (<numatune> mode strict), the host has \(free) there; "
                            + remedy(
                                size: name, pool: firstNode.flatMap { nodePools[$0] }, missing: needed - free,
                                node: firstNode)))
            }
        }
        return findings
    }

    /// " on NUMA cell 1", " on NUMA cells 0, 1", or "" for a guest without NUMA cells.
    static func cellsPhrase(_ cells: [Int]) -> String {
        guard !cells.isEmpty else { return "" }
        return (cells.count == 1 ? " on NUMA cell " : " on NUMA cells ")
            + cells.map(String.init).joined(separator: ", ")
    }

    /// What to run: `vfioctl hugepages reserve` grows a pool to a total, so the count is the
    /// pool's total plus what is missing; sizes vfioctl cannot reserve get no command.
    static func remedy(size name: String, pool: HugepageSupply.Pool?, missing: Int, node: Int?) -> String {
        guard let pool else { return "the host offers no \(name) hugepages\(node.map { " on node \($0)" } ?? "")" }
        guard name == "2M" || name == "1G" else { return "grow the \(name) pool by \(missing) pages" }
        let count = pool.total.saturatingAdd(missing)
        return "run `vfioctl hugepages reserve --size \(name) --count \(count)\(node.map { " --node \($0)" } ?? "")`"
            + (node == nil ? " or set hugepages = \"reserve\" in /etc/vfioctl/hook.toml" : "")
    }

    /// 2048 → "2M", 1048576 → "1G", 64 → "64K".
    static func sizeName(_ kib: Int) -> String {
        if kib % 1_048_576 == 0 { return "\(kib / 1_048_576)G" }
        if kib % 1024 == 0 { return "\(kib / 1024)M" }
        return "\(kib)K"
    }
}
