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
    /// Each group's endpoints, labelled once: every member's reasons list the others.
    let groupEndpoints: GroupEndpointIndex

    init(
        model: HostModel, prediction: GroupPrediction, policy: ACSPolicy, disagreements: [GroupDisagreement],
        hostChecks: [HostCheck], additionalReasons: @escaping @Sendable (PCIDevice) -> [Reason]
    ) {
        self.model = model
        self.prediction = prediction
        self.policy = policy
        self.disagreements = disagreements
        self.hostChecks = hostChecks
        self.additionalReasons = additionalReasons
        groupEndpoints = GroupEndpointIndex(model: model, prediction: prediction)
    }

    func label(_ address: PCIAddress) -> String {
        model[address].map(Self.label) ?? address.description
    }

    /// A function as reasons name it: `0000:03:00.0 [8086:10c9] (igb)`.
    static func label(_ device: PCIDevice) -> String {
        "\(device.address) [\(device.ids)]" + (device.driver.map { " (\($0))" } ?? "")
    }

    /// The group the verdict is about: the kernel's when it has one, else the predicted one
    /// (the group the function would be in with the IOMMU on).
    func groupMembers(of device: PCIDevice) -> (members: [PCIAddress], endpoints: GroupEndpoints, name: String)? {
        if let id = device.iommuGroup, let members = model.kernelGroups?[id],
            let endpoints = groupEndpoints.kernel[id]
        {
            return (members, endpoints, "IOMMU group \(id)")
        }
        guard let id = prediction.group(of: device.address) else { return nil }
        return (prediction.groups[id], groupEndpoints.predicted[id], "predicted group \(id)")
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
            reasons += groupReasons(device, members: group.members, endpoints: group.endpoints, groupName: group.name)
        }
        reasons += isolationReasons(device)
        let reset = ResetCapability(of: device, in: model)
        if !device.isBridge { reasons += resetReasons(device, reset: reset) }
        reasons += containmentReasons(device)
        reasons += framebufferReasons(device)
        if let pf = device.physicalFunction {
            reasons.append(
                Reason(.sriovVF, .assignable, "SR-IOV virtual function of \(label(pf))", related: [pf.description]))
        }
        if !device.isBridge {
            switch device.vfioOwnership {
            case .vfio:
                let cdev = device.vfioCdevPath.map { "; cdev \($0)" } ?? ""
                reasons.append(Reason(.vfioBound, .assignable, "\(device.vfioOwnership) now\(cdev)"))
            case .host(let driver):
                reasons.append(
                    Reason(
                        .hostDriver, .assignable,
                        "bound to \(driver) now; it moves to vfio-pci when the group is bound (libvirt managed='yes' does that at guest start)"
                    ))
            case .stub, .unbound:
                break
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
        if let check = hostChecks.first(where: { $0.code == .unsafeInterrupts && $0.status == .fail }) {
            reasons.append(
                Reason(
                    .unsafeInterrupts, .caveats,
                    "the host allows unsafe interrupts (host check unsafe-interrupts): a guest given this function can forge MSIs into the host",
                    related: [check.code.rawValue]))
        }
        if let group = device.iommuGroup, let type = model.groupTypes[group], type != .dma, type != .dmaFQ,
            !device.isBridge
        {
            reasons.append(
                Reason(
                    .iommuGroupType, .assignable,
                    "IOMMU group \(group)'s default domain is \(type.rawValue): \(type.meaning)"))
        }
        reasons += additionalReasons(device)
        let predicted = prediction.group(of: address)
        return DeviceAssessment(
            address: address, verdict: reasons.verdict, reasons: reasons, predictedGroup: predicted, reset: reset)
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

    private func groupReasons(
        _ device: PCIDevice, members: [PCIAddress], endpoints group: GroupEndpoints, groupName: String
    ) -> [Reason] {
        var reasons: [Reason] = []
        let endpoints = group.excluding(device.address)
        if !endpoints.isEmpty, !device.isBridge {
            reasons.append(
                Reason(
                    .groupShared, .caveats,
                    "\(groupName) also holds \(group.listing(endpoints)): the whole group goes to one guest (or to vfio-pci) together"
                ))
            // What keeps the group from being viable: members on host drivers (VFIOOwnership).
            let held = endpoints.filter { group.held[$0] }
            if !held.isEmpty {
                reasons.append(
                    Reason(
                        .groupMemberDriver, .caveats,
                        "group members bound to host drivers: \(group.listing(held)); the host loses them when the group is bound to vfio-pci",
                        related: held.map { group.addresses[$0].description }))
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

    /// DPC above the function (PCIe Base §6.2.10; drivers/pci/pcie/dpc.c): which port contains
    /// its uncorrectable errors, who recovers it (the kernel's `dpc` port service, or firmware
    /// through ACPI EDR when the port has trigger enabled but no `dpc` service), and a port
    /// that holds its link down right now.
    private func containmentReasons(_ device: PCIDevice) -> [Reason] {
        var reasons: [Reason] = []
        for port in [device] + model.upstreamBridges(of: device.address) {
            guard let dpc = port.config.dpc, dpc.triggered else { continue }
            let whose = port.address == device.address ? "this port" : "upstream port \(label(port.address))"
            reasons.append(
                Reason(
                    .dpcTriggered, .caveats,
                    "\(whose) has contained an error by DPC and holds its link down (DPC Status: trigger set, reason: \(dpc.triggerReason.name), source \(hex(dpc.errorSourceID, width: 4))): functions below it are unreachable until the kernel recovers the link",
                    related: [port.address.description]))
        }
        guard !device.isBridge, let port = model.containingPort(of: device.address) else { return reasons }
        let trigger = port.config.dpc?.trigger == .fatal ? "ERR_FATAL" : "ERR_NONFATAL or ERR_FATAL"
        let recoverer: String
        switch port.portServices {
        case let services? where services.contains(.dpc): recoverer = "the kernel's dpc service recovers it"
        case .some: recoverer = "no dpc service is bound, so firmware (ACPI EDR) owns the recovery"
        case nil: recoverer = "the kernel (or firmware, by ACPI EDR) recovers it"
        }
        reasons.append(
            Reason(
                .dpcContainment, .assignable,
                "errors here are contained by DPC at \(label(port.address)) (trigger on \(trigger)): its link goes down and every function below it is reset; \(recoverer) with the same recovery uevents as AER, which vfio-aerd acts on",
                related: [port.address.description]))
        return reasons
    }

    /// A firmware framebuffer in the function's BARs (`/proc/iomem`): what holds which range,
    /// which frame buffer device and console draw on it, why vfio-pci's
    /// `pci_request_regions()` fails, and the kernel parameter that releases it.
    private func framebufferReasons(_ device: PCIDevice) -> [Reason] {
        guard let held = model.facts.firmwareFramebuffers.first(where: { $0.address == device.address }),
            !held.regions.isEmpty
        else { return [] }
        let regions = held.regions.map { region in
            let range =
                region.start == 0 && region.end == 0
                ? "" : " [mem 0x\(hex(region.start, width: 8))-0x\(hex(region.end, width: 8))]"
            return "\(region.name)\(range)" + (region.bar.map { " in BAR \($0)" } ?? "")
        }
        var users = held.framebuffers.map { fb in
            "\(fb.node)" + (fb.name.map { " \"\($0)\"" } ?? "") + (fb.device.map { " on \($0)" } ?? "")
        }
        if held.consoleOnFramebuffer == true { users.append("the console (fbcon)") }
        let bar = held.regions.compactMap(\.bar).first.map(String.init) ?? "N"
        let words = Set(model.facts.commandLineWords)
        let parameters = held.releasingParameters
        let missing = parameters.filter { !words.contains($0) }
        let advice =
            missing.isEmpty
            ? "the command line already has \(parameters.joined(separator: " ")), yet the memory is held: check for a driver bound to the framebuffer (\(held.framebuffers.map(\.node).joined(separator: ", ")))"
            : "boot with \(missing.joined(separator: " ")) so firmware's framebuffer is not registered, or bind the function before it is"
        return [
            Reason(
                .firmwareFramebuffer, device.isVFIOOwned ? .caveats : .blocked,
                "firmware's framebuffer holds this function's memory: \(regions.joined(separator: ", "))"
                    + (users.isEmpty ? "" : ", used by \(users.joined(separator: ", "))")
                    + "; vfio-pci would fail to take it with \"BAR \(bar): can't reserve [mem …]\"; \(advice)")
        ]
    }

    private func resetReasons(_ device: PCIDevice, reset: ResetCapability) -> [Reason] {
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

/// A group's endpoints (members that are not bridges) in the group's order, each labelled as
/// reasons name it, and whether a host driver holds it (`VFIOOwnership.keepsGroupViable`).
struct GroupEndpoints: Sendable {
    let addresses: [PCIAddress]
    let labels: [String]
    let held: [Bool]

    init(members: [PCIAddress], in model: HostModel) {
        var addresses: [PCIAddress] = []
        var labels: [String] = []
        var held: [Bool] = []
        for address in members {
            guard let device = model[address], !device.isBridge else { continue }
            addresses.append(address)
            labels.append(AssignabilityRules.label(device))
            held.append(!device.vfioOwnership.keepsGroupViable)
        }
        self.addresses = addresses
        self.labels = labels
        self.held = held
    }

    /// Positions of every endpoint but `address`.
    func excluding(_ address: PCIAddress) -> [Int] {
        addresses.indices.filter { addresses[$0] != address }
    }

    /// Up to four labelled endpoints (by position), then a count: large groups stay readable.
    func listing(_ positions: [Int]) -> String {
        let shown = positions.prefix(4).map { labels[$0] }.joined(separator: ", ")
        return positions.count > 4 ? shown + " and \(positions.count - 4) more" : shown
    }
}

/// `GroupEndpoints` of every kernel and predicted group of a model, made once per report.
struct GroupEndpointIndex: Sendable {
    let kernel: [Int: GroupEndpoints]
    let predicted: [GroupEndpoints]

    init(model: HostModel, prediction: GroupPrediction) {
        kernel = (model.kernelGroups ?? [:]).mapValues { GroupEndpoints(members: $0.sorted(), in: model) }
        predicted = prediction.groups.map { GroupEndpoints(members: $0, in: model) }
    }
}
