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
    ///   - freeHugepagesKiB: free pages per page size (KiB → count) on the host.
    public init(
        domain: LibvirtDomain, report: InspectReport, quirks: QuirkDatabase, policy: ACSPolicy,
        otherDomains: [String: [PCIAddress]] = [:], freeHugepages: [Int: Int] = [:]
    ) {
        var findings: [HookFinding] = []
        let model = report.model
        let hostdevAddresses = Set(domain.hostdevs.map(\.address))
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
            findings += Self.groupFindings(
                device, hostdevs: hostdevAddresses, report: report, otherDomains: otherDomains)
            let guest = GuestContext(
                os: domain.osID, arch: domain.arch, machine: domain.machine, hostdevDriver: hostdev.driver,
                functionsOfSameDevice: domain.functionsOfSameDevice(as: address))
            for match in quirks.matches(for: device, in: model, policy: policy, guest: guest)
            where match.quirk.guest != nil || match.quirk.effect == .warn || match.quirk.effect == .block {
                findings.append(Self.finding(for: match.quirk, device: address))
            }
        }
        let guest = GuestContext(
            os: domain.osID, arch: domain.arch, machine: domain.machine,
            hostdevDriver: domain.hostdevs.compactMap(\.driver).first { $0 == "kvm" })
        for quirk in quirks.guestQuirks(for: guest, in: model) where quirk.effect != .advice || !domain.hostdevs.isEmpty
        {
            if quirk.id == "pc-machine-slot-limit" {
                findings += Self.slotFindings(domain, quirk: quirk)
            } else {
                findings.append(Self.finding(for: quirk, device: nil))
            }
        }
        findings += Self.hugepageFindings(domain, model: model, freeHugepages: freeHugepages)
        // One line per problem: the same finding for several functions names them all.
        var merged: [HookFinding] = []
        for finding in findings {
            if let index = merged.firstIndex(where: { $0.level == finding.level && $0.message == finding.message }) {
                merged[index].devices += finding.devices.filter { !merged[index].devices.contains($0) }
            } else {
                merged.append(finding)
            }
        }
        self.findings = merged
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
            case "iommu-off", "no-iommu-group", "host-dependency", "bridge", "vfio-missing":
                findings.append(.init(level: .refuse, device: device.address, message: reason.message))
            case "no-reset", "no-interrupt-remapping":
                findings.append(.init(level: .warn, device: device.address, message: reason.message))
            default:
                break
            }
        }
        if !hostdev.managed, let driver = device.driver, driver != "vfio-pci" {
            findings.append(
                .init(
                    level: .refuse, device: device.address,
                    message:
                        "unmanaged hostdev is bound to \(driver), not vfio-pci; bind its group to vfio-pci first or set managed='yes'"
                ))
        }
        return findings
    }

    /// Every other endpoint of the group must come along, be VFIO-bound or driverless, and
    /// not belong to another running guest.
    static func groupFindings(
        _ device: PCIDevice, hostdevs: Set<PCIAddress>, report: InspectReport, otherDomains: [String: [PCIAddress]]
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
            if let owner = otherDomains.first(where: { $0.value.contains(member) })?.key {
                findings.append(
                    .init(
                        level: .refuse, device: device.address,
                        message:
                            "shares its IOMMU group with \(member), which guest \(owner) is using; a group goes to one guest only"
                    ))
            } else if let driver = other.driver, !["vfio-pci", "pci-stub"].contains(driver) {
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

    /// pc (i440FX) guests have 32 slots, 4 fixed: 28 for everything else, unless a
    /// pci-bridge adds more.
    static func slotFindings(_ domain: LibvirtDomain, quirk: Quirk) -> [HookFinding] {
        guard !domain.hasPCIBridge else { return [] }
        let taken = domain.usedGuestSlots.subtracting([0, 1]).count + domain.unaddressedDevices
        guard taken > 28 else { return [] }
        return [
            HookFinding(
                level: .refuse, device: nil,
                message:
                    "[\(quirk.id)] the guest needs \(taken) PCI slots but a pc machine has 28 free. \(quirk.advice ?? "")"
            )
        ]
    }

    /// Hugepage backing: enough free pages of the asked size; and advice where the IOMMU
    /// would map large pages but the guest is not backed by them.
    static func hugepageFindings(_ domain: LibvirtDomain, model: HostModel, freeHugepages: [Int: Int]) -> [HookFinding]
    {
        guard !domain.hostdevs.isEmpty || domain.hugepages != nil else { return [] }
        guard let backing = domain.hugepages else {
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
        var findings: [HookFinding] = []
        for size in backing.pageSizesKiB {
            let kib = size ?? 2048
            let needed = (domain.memoryKiB + kib - 1) / kib
            let free = freeHugepages[kib] ?? 0
            if free < needed {
                let name = kib >= 1_048_576 ? "\(kib / 1_048_576)G" : "\(kib / 1024)M"
                findings.append(
                    HookFinding(
                        level: .refuse, device: nil,
                        message:
                            "the guest's \(domain.memoryKiB / 1024) MiB need \(needed) free \(name) hugepages, the host has \(free); run `vfioctl hugepages reserve --size \(name) --count \(needed)` or set hugepages = \"reserve\" in /etc/vfioctl/hook.toml"
                    ))
            }
            if size == nil || backing.pageSizesKiB.count > 1 { break }
        }
        return findings
    }
}
