import PCIModel

/// The rules that decide whether a function can be given to a guest, and why: bridge, config
/// anomalies, IOMMU and group membership, ACS isolation, reset, SR-IOV, the bound driver and
/// the host checks, each a `Reason` with its severity (the verdict is the worst of them).
/// Everything a rule needs is here, so each reads as the kernel fact it encodes.
struct AssignabilityRules: Sendable {
    let model: HostModel
    let prediction: GroupPrediction
    let policy: ACSPolicy
    let disagreements: [GroupDisagreement]
    let hostChecks: [HostCheck]
    let additionalReasons: @Sendable (PCIDevice) -> [Reason]

    /// Up to four labelled functions, then a count: large groups stay readable.
    func listing(_ addresses: [PCIAddress]) -> String {
        let shown = addresses.prefix(4).map(label).joined(separator: ", ")
        return addresses.count > 4 ? shown + " and \(addresses.count - 4) more" : shown
    }

    func label(_ address: PCIAddress) -> String {
        guard let device = model[address] else { return address.description }
        return "\(address) [\(device.ids)]" + (device.driver.map { " (\($0))" } ?? "")
    }

    /// The group the verdict is about: the kernel's when it has one, else the predicted one
    /// (the group the function would be in with the IOMMU on).
    func groupMembers(of device: PCIDevice) -> (members: [PCIAddress], name: String)? {
        if let id = device.iommuGroup, let members = model.kernelGroups?[id] {
            return (members.sorted(), "IOMMU group \(id)")
        }
        guard let id = prediction.group(of: device.address) else { return nil }
        return (prediction.groups[id], "predicted group \(id)")
    }

    func assess(_ device: PCIDevice) -> DeviceAssessment {
        var reasons: [Reason] = []
        let address = device.address
        if device.isBridge {
            reasons.append(
                Reason(
                    .bridge, .blocked,
                    "\(address) is a PCI bridge (\(device.portType?.jsonName ?? "conventional")); bridges stay with the host on pcieport and are never assigned"
                ))
        }
        reasons += configReasons(device)
        if device.isAMDIOMMUFunction, device.iommuGroup == nil {
            reasons.append(
                Reason(
                    .iommuUnit, .blocked,
                    "\(address) is the AMD-Vi unit itself (class 0806): it translates for the other functions, not for itself, so it is in no group and stays with the host"
                ))
        } else {
            reasons += iommuReasons(device)
        }
        if let group = groupMembers(of: device) {
            reasons += groupReasons(device, members: group.members, groupName: group.name)
        }
        reasons += isolationReasons(device)
        if !device.isBridge { reasons += resetReasons(device) }
        if let pf = device.physicalFunction {
            reasons.append(
                Reason(.sriovVF, .assignable, "SR-IOV virtual function of \(label(pf))", related: [pf.description]))
        }
        if let driver = device.driver, !device.isBridge {
            if driver == "vfio-pci" {
                reasons.append(Reason(.vfioBound, .assignable, "bound to vfio-pci now"))
            } else if driver != "pci-stub" {
                reasons.append(
                    Reason(
                        .hostDriver, .assignable,
                        "bound to \(driver) now; it moves to vfio-pci when the group is bound (libvirt managed='yes' does that at guest start)"
                    ))
            }
        }
        if hostChecks.contains(where: { $0.code == .vfioModules && $0.status == .fail }) {
            reasons.append(
                Reason(
                    .vfioMissing, .blocked,
                    "the running kernel has no vfio-pci; install a kernel with CONFIG_VFIO_PCI"))
        }
        if hostChecks.contains(where: { $0.code == .interruptRemapping && $0.status == .warn }) {
            reasons.append(
                Reason(
                    .noInterruptRemapping, .caveats,
                    "the IOMMU cannot remap interrupts: a guest could forge MSIs; assignment needs allow_unsafe_interrupts"
                ))
        }
        reasons += additionalReasons(device)
        let predicted = prediction.group(of: address)
        return DeviceAssessment(address: address, verdict: reasons.verdict, reasons: reasons, predictedGroup: predicted)
    }

    private func configReasons(_ device: PCIDevice) -> [Reason] {
        device.config.anomalies.map { anomaly in
            switch anomaly.kind {
            case .truncated:
                Reason(
                    .configTruncated, .unknown,
                    "\(anomaly.message): ACS, reset and SR-IOV cannot be judged; run vfioctl as root")
            case .noDevice where device.physicalFunction != nil:
                Reason(
                    .vfConfig, .assignable,
                    "config space of a virtual function reads vendor 0xffff, as SR-IOV specifies")
            default:
                Reason(.configAnomaly, .caveats, "config space of \(device.address): \(anomaly.message)")
            }
        }
    }

    private func iommuReasons(_ device: PCIDevice) -> [Reason] {
        switch model.kernelGroups {
        case nil:
            return [
                Reason(
                    .groupsPredicted, .caveats,
                    "this source has no kernel IOMMU groups; the group shown is predicted from config space")
            ]
        case let groups? where groups.isEmpty:
            return [
                Reason(
                    .iommuOff, .blocked,
                    "the kernel has no IOMMU groups: enable VT-d/AMD-Vi in firmware and boot with intel_iommu=on or amd_iommu=on"
                )
            ]
        default:
            guard device.iommuGroup != nil else {
                return [
                    Reason(
                        .noIOMMUGroup, .blocked, "\(device.address) is in no IOMMU group: no IOMMU translates for it"
                    )
                ]
            }
            if let disagreement = disagreements.first(where: { $0.kernelMembers.contains(device.address) }) {
                return [
                    Reason(
                        .groupPredictionDiffers, .caveats,
                        "kernel group \(disagreement.kernelGroup) {\(disagreement.kernelMembers.map(\.description).joined(separator: ", "))} differs from the prediction {\(disagreement.predictedMembers.map(\.description).joined(separator: ", "))}: a kernel quirk or an ACS override is at work",
                        related: disagreement.predictedMembers.map(\.description))
                ]
            }
            return []
        }
    }

    private func groupReasons(_ device: PCIDevice, members: [PCIAddress], groupName: String) -> [Reason] {
        var reasons: [Reason] = []
        let others = members.filter { $0 != device.address }
        let endpoints = others.filter { model[$0]?.isBridge == false }
        if !endpoints.isEmpty, !device.isBridge {
            reasons.append(
                Reason(
                    .groupShared, .caveats,
                    "\(groupName) also holds \(listing(endpoints)): the whole group goes to one guest (or to vfio-pci) together"
                ))
            let held = endpoints.filter { member in
                model[member]?.driver.map { !["vfio-pci", "pci-stub"].contains($0) } ?? false
            }
            if !held.isEmpty {
                reasons.append(
                    Reason(
                        .groupMemberDriver, .caveats,
                        "group members bound to host drivers: \(listing(held)); the host loses them when the group is bound to vfio-pci",
                        related: held.map(\.description)))
            }
        }
        for dependency in model.facts.hostDependencies where members.contains(dependency.address) {
            let whose = dependency.address == device.address ? "this function" : "group member \(dependency.address)"
            reasons.append(
                Reason(
                    .hostDependency, .blocked,
                    "\(whose) is what the host runs on (\(dependency.kind.rawValue): \(dependency.detail)); assigning the group would take it from the host",
                    related: [dependency.address.description]))
        }
        return reasons
    }

    /// Every bridge above the function that fails the kernel's ACS test, the DMA alias, and
    /// multifunction siblings without ACS: the evidence of why the group is as large as it is.
    private func isolationReasons(_ device: PCIDevice) -> [Reason] {
        var reasons: [Reason] = []
        let groupSize = prediction.group(of: device.address).map { prediction.groups[$0].count } ?? 1
        let severity: Verdict = groupSize > 1 && !device.isBridge ? .caveats : .assignable
        let representative = GroupPrediction.dmaAliasRepresentative(of: device, in: model)
        if representative.address != device.address {
            reasons.append(
                Reason(
                    .dmaAlias, severity,
                    "behind \(label(representative.address)), a \(representative.portType?.jsonName ?? "conventional PCI bridge"): it issues DMA with that bridge's requester ID, so everything behind it shares one group",
                    related: [representative.address.description]))
        }
        for bridge in model.upstreamBridges(of: device.address) {
            let evaluation = policy.evaluate(bridge)
            guard !evaluation.enabled else { continue }
            reasons.append(
                Reason(
                    .acsMissing, severity,
                    "upstream \(bridge.portType?.jsonName ?? "bridge") \(label(bridge.address)): \(evaluation.rule.explanation); functions below it are not isolated from each other",
                    related: [bridge.address.description]))
        }
        if device.isMultifunction, !policy.evaluate(device).enabled {
            let siblings = model.slotSiblings(of: device.address).filter { !policy.evaluate($0).enabled }
            if !siblings.isEmpty {
                reasons.append(
                    Reason(
                        .multifunctionNoACS, severity,
                        "function of a multifunction device without ACS: may reach \(siblings.map(\.address.description).joined(separator: ", ")) peer-to-peer",
                        related: siblings.map(\.address.description)))
            }
        }
        return reasons
    }

    private func resetReasons(_ device: PCIDevice) -> [Reason] {
        let reset = ResetCapability(of: device, in: model)
        let source = reset.source == .resetMethod ? "reset_method" : "config space"
        let stale =
            reset.busListingStale
            ? "; reset_method lists bus, but other functions share the bus (the list predates them; the kernel refuses that reset)"
            : ""
        if !reset.canResetAlone {
            let busMates =
                device.parent.map { model.children(of: $0).map(\.address).filter { $0 != device.address } } ?? []
            let why =
                busMates.isEmpty
                ? "no FLR, no PM reset (NoSoftRst+ or no PM capability), and no bus reset on a root bus"
                : "no FLR, no PM reset, and a bus reset would also reset \(busMates.map(\.description).joined(separator: ", "))"
            return [
                Reason(
                    .noReset, .caveats,
                    "cannot be reset on its own (\(source)): \(why)\(stale); state may leak between guests",
                    related: reset.busResetAlsoResets.map(\.description))
            ]
        }
        if reset.busResetOnly {
            let bridge = reset.busResetBridge.map { " \($0)" } ?? ""
            let others =
                reset.busResetAlsoResets.isEmpty
                ? ""
                : ", which also resets \(reset.busResetAlsoResets.map(\.description).joined(separator: ", "))"
            return [
                Reason(
                    .resetBusOnly, .assignable,
                    "reset only by secondary bus reset of the parent bridge\(bridge) (\(source))\(others)",
                    related: reset.busResetAlsoResets.map(\.description))
            ]
        }
        return []
    }
}
