import PCIModel

/// One host-wide check, as virt-host-validate does them and a few more.
public struct HostCheck: Sendable, Equatable {
    public enum Status: String, Sendable { case pass, warn, fail, unknown }
    public var code: Code
    public var status: Status
    public var message: String
}

public enum HostChecks {
    /// IOMMU hardware and kernel state, interrupt remapping, `iommu=pt`, ACS override, vfio-pci.
    public static func run(_ model: HostModel) -> [HostCheck] {
        let facts = model.facts
        let words = facts.commandLineWords
        var checks: [HostCheck] = []
        switch (facts.acpiDMARTable, facts.acpiIVRSTable) {
        case (true?, _):
            checks.append(
                .init(
                    code: .iommuFirmware, status: .pass,
                    message: "ACPI DMAR table present: Intel VT-d is enabled in firmware"))
        case (_, true?):
            checks.append(
                .init(
                    code: .iommuFirmware, status: .pass,
                    message: "ACPI IVRS table present: AMD-Vi is enabled in firmware"))
        case (false?, false?):
            checks.append(
                .init(
                    code: .iommuFirmware, status: .fail,
                    message: "no ACPI DMAR or IVRS table: enable VT-d / AMD-Vi (IOMMU) in the firmware setup"))
        default:
            checks.append(
                .init(code: .iommuFirmware, status: .unknown, message: "firmware tables are not in this source"))
        }
        switch model.kernelGroups {
        case nil:
            checks.append(
                .init(
                    code: .iommuEnabled, status: .unknown,
                    message: "this source has no kernel IOMMU groups; groups below are predicted"))
        case let groups? where groups.isEmpty:
            let hint =
                words.contains(where: { $0.hasPrefix("intel_iommu=") || $0.hasPrefix("amd_iommu=") })
                ? "the command line asks for it, so check dmesg for DMAR/AMD-Vi errors"
                : "add intel_iommu=on (Intel) or amd_iommu=on (AMD) to the kernel command line"
            checks.append(
                .init(
                    code: .iommuEnabled, status: .fail,
                    message: "the kernel has no IOMMU groups: the IOMMU is off; \(hint)"))
        case let groups?:
            checks.append(
                .init(
                    code: .iommuEnabled, status: .pass,
                    message:
                        "the kernel formed \(groups.count) IOMMU groups over \(facts.iommuUnits.count) IOMMU unit(s)"))
        }
        let intelUnits = facts.iommuUnits.filter { $0.kind == .intel }
        if !intelUnits.isEmpty {
            let withoutRemapping = intelUnits.filter { $0.supportsInterruptRemapping == false }.map(\.name)
            let unread = intelUnits.filter { $0.supportsInterruptRemapping == nil }.map(\.name)
            if !withoutRemapping.isEmpty {
                checks.append(
                    .init(
                        code: .interruptRemapping, status: .warn,
                        message:
                            "\(withoutRemapping.joined(separator: ", ")) lack interrupt remapping: vfio needs vfio_iommu_type1.allow_unsafe_interrupts=1, which lets a guest forge MSIs"
                    ))
            } else if !unread.isEmpty {
                // No ecap, no answer: an unread register is not a set IR bit.
                checks.append(
                    .init(
                        code: .interruptRemapping, status: .unknown,
                        message:
                            "the extended capability register (ecap) of \(unread.joined(separator: ", ")) was not read, so interrupt remapping is unknown"
                    ))
            } else {
                checks.append(
                    .init(
                        code: .interruptRemapping, status: .pass,
                        message: "every DMAR unit supports interrupt remapping"))
            }
        }
        let largePages = intelUnits.map { LargePageVerdict(unit: $0, commandLine: words) }
        if let usable = largePages.first(where: \.available) {
            let sizes = usable.sizes.map(IntelIOMMUCapability.sizeName).joined(separator: "/")
            checks.append(
                .init(
                    code: .iommuSuperpages, status: .pass,
                    message:
                        "the IOMMU maps \(sizes) pages: back guests with hostdevs by hugepages of that size (libvirt <memoryBacking><hugepages/>) to cut IOTLB misses"
                ))
        } else if let first = largePages.first, first.sizes.isEmpty == false {
            checks.append(.init(code: .iommuSuperpages, status: .warn, message: first.reason))
        }
        if words.contains("iommu=pt") {
            checks.append(
                .init(
                    code: .iommuPassthrough, status: .pass,
                    message: "iommu=pt: host-owned devices bypass translation; assigned devices are still isolated"))
        }
        if words.contains("intel_iommu=off") || words.contains("amd_iommu=off") {
            checks.append(
                .init(code: .iommuCmdline, status: .fail, message: "the kernel command line turns the IOMMU off"))
        }
        if let override = words.first(where: { $0.hasPrefix("pcie_acs_override=") }) {
            checks.append(
                .init(
                    code: .acsOverride, status: .warn,
                    message: "\(override): out-of-tree patch; kernel groups claim isolation the hardware does not give")
            )
        }
        if words.contains("pci=noaer") {
            checks.append(
                .init(
                    code: .aerDisabled, status: .warn,
                    message: "pci=noaer: the host ignores AER, so failing assigned devices are not noticed"))
        }
        switch facts.vfioPCIAvailability {
        case .loaded: checks.append(.init(code: .vfioModules, status: .pass, message: "vfio-pci is loaded"))
        case .builtin:
            checks.append(.init(code: .vfioModules, status: .pass, message: "vfio-pci is built into the kernel"))
        case .available:
            checks.append(
                .init(
                    code: .vfioModules, status: .pass,
                    message: "vfio-pci is available as a module (loaded on first bind)"))
        case .missing:
            checks.append(
                .init(code: .vfioModules, status: .fail, message: "the running kernel has no vfio-pci module"))
        case .unknown:
            checks.append(
                .init(code: .vfioModules, status: .unknown, message: "vfio-pci availability is not in this source"))
        }
        checks.append(unsafeInterruptsCheck(facts))
        if let check = vfioInterfacesCheck(model) { checks.append(check) }
        return checks
    }

    /// Interrupt remapping as far as the source tells: Intel from each DMAR unit's ECAP.IR
    /// (bit 3); AMD-Vi reports it only in the IVRS table's IVinfo/IVHD flags and the kernel
    /// log ("AMD-Vi: Interrupt remapping enabled"), neither of which vfioctl reads.
    public static func interruptRemappingState(_ facts: HostFacts) -> String {
        let intel = facts.iommuUnits.filter { $0.kind == .intel }
        let lacking = intel.filter { $0.supportsInterruptRemapping == false }.map(\.name)
        let amd = facts.iommuUnits.contains { $0.kind == .amd }
        if !lacking.isEmpty {
            return "interrupt remapping missing on \(lacking.joined(separator: ", ")) (ECAP.IR clear)"
        }
        let unread = intel.filter { $0.supportsInterruptRemapping == nil }.map(\.name)
        if !unread.isEmpty {
            return "interrupt remapping unknown (the ecap of \(unread.joined(separator: ", ")) was not read)"
        }
        if !intel.isEmpty { return "interrupt remapping supported by every DMAR unit (ECAP.IR set)" }
        if amd {
            return
                "interrupt remapping unknown on AMD-Vi (IVRS and the kernel log are not read; look for \"AMD-Vi: Interrupt remapping enabled\" in dmesg)"
        }
        return "interrupt remapping unknown (no IOMMU units in this source)"
    }

    /// `allow_unsafe_interrupts=Y` on a loaded VFIO IOMMU back end (or on the kernel command
    /// line for one not loaded yet) fails: VFIO then accepts IOMMUs that cannot remap
    /// interrupts, and a guest can forge MSIs into the host.
    public static func unsafeInterruptsCheck(_ facts: HostFacts) -> HostCheck {
        let remapping = interruptRemappingState(facts)
        let truthy: Set<Substring> = ["1", "Y", "y", "true", "on"]
        var allowed = VFIOIOMMUBackend.allCases.filter { facts.allowUnsafeInterrupts[$0] == true }.map(\.rawValue)
        for backend in VFIOIOMMUBackend.allCases where facts.allowUnsafeInterrupts[backend] == nil {
            let prefix = "\(backend.rawValue).allow_unsafe_interrupts"
            for word in facts.commandLineWords {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.first.map(String.init) == prefix, parts.count == 1 || truthy.contains(parts[1]) {
                    allowed.append("\(backend.rawValue) (kernel command line)")
                }
            }
        }
        if !allowed.isEmpty {
            return .init(
                code: .unsafeInterrupts, status: .fail,
                message:
                    "allow_unsafe_interrupts=Y on \(allowed.joined(separator: ", ")): VFIO accepts IOMMUs without interrupt remapping, so a guest's device can forge MSIs and inject interrupts into the host; remove the option (/etc/modprobe.d, the kernel command line) and reload the module or reboot; \(remapping)"
            )
        }
        let refusing = VFIOIOMMUBackend.allCases.filter { facts.allowUnsafeInterrupts[$0] == false }.map(\.rawValue)
        if !refusing.isEmpty {
            return .init(
                code: .unsafeInterrupts, status: .pass,
                message:
                    "allow_unsafe_interrupts=N on \(refusing.joined(separator: ", ")): VFIO refuses IOMMUs that cannot remap interrupts; \(remapping)"
            )
        }
        return .init(
            code: .unsafeInterrupts, status: .unknown,
            message:
                "neither vfio_iommu_type1 nor iommufd is loaded in this source, so allow_unsafe_interrupts cannot be read; \(remapping)"
        )
    }

    /// The VFIO user interfaces present: group (`/dev/vfio/vfio`, `/dev/vfio/N`) and cdev
    /// (`/dev/iommu` with `/dev/vfio/devices/vfioN`, Linux ≥ 6.6 with CONFIG_VFIO_DEVICE_CDEV).
    /// nil when the source has no `dev/`.
    public static func vfioInterfacesCheck(_ model: HostModel) -> HostCheck? {
        let facts = model.facts
        guard facts.iommufdDevice != nil || facts.vfioContainerDevice != nil else { return nil }
        let cdevs = model.devices.filter { $0.vfioCdevPath != nil }.count
        var parts: [String] = []
        parts.append(
            facts.vfioContainerDevice == true
                ? "group interface: /dev/vfio/vfio present (\(model.vfioGroupNodes.count) group node(s) /dev/vfio/N)"
                : "group interface: no /dev/vfio/vfio (vfio not loaded yet)")
        parts.append(
            facts.iommufdDevice == true
                ? "cdev interface: /dev/iommu present (iommufd), \(cdevs) device node(s) /dev/vfio/devices/vfioN"
                : "cdev interface: no /dev/iommu (iommufd not loaded, or a kernel before 6.2)")
        return .init(code: .vfioInterfaces, status: .pass, message: parts.joined(separator: "; "))
    }
}
