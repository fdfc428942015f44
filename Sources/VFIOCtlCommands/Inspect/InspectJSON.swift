import Analysis
import PCIModel
import QuirkDB

/// `vfioctl inspect --json`, schema version 2 (Docs/json-schema.md).
enum InspectJSON {
    static let schemaVersion = 2

    /// Streams the report to standard output: header fields, then devices one by one.
    static func write(_ report: InspectReport, quirks: QuirkEvaluation, selected: [PCIAddress]?) {
        let model = report.model
        let wanted = selected.map(Set.init)
        var out = JSONStream()
        func member(_ key: String, _ value: JSON, last: Bool = false) {
            out.raw("  ")
            out.value(.string(key), indent: 2)
            out.raw(": ")
            out.value(value, indent: 2)
            out.raw(last ? "\n" : ",\n")
        }
        out.raw("{\n")
        member("schemaVersion", .int(schemaVersion))
        member("tool", .string("vfioctl \(VFIOCtl.version)"))
        member("source", .string(model.source))
        member(
            "iommu",
            .string(model.kernelGroups == nil ? "unknown" : (model.kernelGroups?.isEmpty == true ? "off" : "on")))
        let facts = model.facts
        member(
            "predictionKernel",
            .object([
                ("version", quirks.kernel.version.map { JSON.string($0.description) } ?? .null),
                ("source", .string(quirks.kernel.source.rawValue)),
            ]))
        member(
            "host",
            .object([
                ("kernelRelease", facts.kernelRelease.map(JSON.string) ?? .null),
                ("checks", .array(report.hostChecks.map(checkJSON))),
                ("firmwareFramebuffers", .array(model.facts.firmwareFramebuffers.map(framebufferJSON))),
                ("iommufd", facts.iommufdDevice.map(JSON.bool) ?? .null),
                ("vfioContainer", facts.vfioContainerDevice.map(JSON.bool) ?? .null),
                (
                    "allowUnsafeInterrupts",
                    .object(
                        VFIOIOMMUBackend.allCases.compactMap { backend in
                            facts.allowUnsafeInterrupts[backend].map { (backend.rawValue, JSON.bool($0)) }
                        })
                ),
            ]))
        out.raw("  \"devices\": [")
        var first = true
        let shown = report.devices.filter { wanted?.contains($0.address) ?? true }
        // Rendered on both cores, 512 devices at a time so memory stays bounded.
        var start = 0
        while start < shown.count {
            let chunk = Array(shown[start..<min(start + 512, shown.count)])
            let rendered = chunk.parallelMap(minimumPerWorker: 64) { assessment -> [UInt8] in
                var bytes: [UInt8] = []
                deviceJSON(assessment, model: model, quirks: quirks)?.write(to: &bytes, indent: 4)
                return bytes
            }
            for bytes in rendered where !bytes.isEmpty {
                out.raw(first ? "\n    " : ",\n    ")
                out.bytes(bytes)
                first = false
            }
            start += 512
        }
        out.raw(first ? "],\n" : "\n  ],\n")
        let kernelGroups: [JSON] = (model.kernelGroups ?? [:]).sorted { $0.key < $1.key }
            .filter { group in wanted.map { !$0.isDisjoint(with: group.value) } ?? true }
            .map { id, members in
                groupJSON(
                    id: id, members: members.sorted(), report: report,
                    kernel: (model.groupTypes[id], model.vfioGroupNodes.contains(id)))
            }
        member("groups", model.kernelGroups == nil ? .null : .array(kernelGroups))
        let predictedGroups: [JSON] = report.prediction.groups.enumerated()
            .filter { group in wanted.map { !$0.isDisjoint(with: group.element) } ?? true }
            .map { id, members in groupJSON(id: id, members: members, report: report) }
        member("predictedGroups", .array(predictedGroups))
        member(
            "groupDisagreements",
            .array(
                report.disagreements.map { d in
                    .object([
                        ("kernelGroup", .int(d.kernelGroup)),
                        ("kernelDevices", .array(d.kernelMembers.map { .string($0.description) })),
                        ("predictedDevices", .array(d.predictedMembers.map { .string($0.description) })),
                    ])
                }))
        var listed: [String: Quirk] = [:]
        for (address, matches) in quirks.matches where wanted?.contains(address) ?? true {
            for match in matches { listed[match.quirk.id] = match.quirk }
        }
        member("quirks", .array(listed.keys.sorted().compactMap { listed[$0].map(QuirkJSON.entry) }))
        member("anomalies", .array(model.anomalies.map(JSON.string)), last: true)
        out.raw("}\n")
        out.flush()
    }

    /// The reset methods and where they came from (`reset_method` or config space), and what
    /// a bus reset would take with it.
    private static func resetJSON(_ reset: ResetCapability) -> JSON {
        .object([
            ("methods", .array(reset.methods.map { .string($0.rawValue) })),
            ("source", .string(reset.source.rawValue)),
            ("busResetBridge", .optional(reset.busResetBridge?.description)),
            ("busResetAlsoResets", .array(reset.busResetAlsoResets.map { .string($0.description) })),
            ("busListingStale", .bool(reset.busListingStale)),
        ])
    }

    /// A display function and the firmware framebuffer holding its memory (`/proc/iomem`).
    private static func framebufferJSON(_ held: FirmwareFramebuffer) -> JSON {
        .object([
            ("address", .string(held.address.description)),
            (
                "regions",
                .array(
                    held.regions.map { region in
                        .object([
                            ("name", .string(region.name)), ("holder", .string(region.holder.rawValue)),
                            ("start", .string("0x" + hex(region.start, width: 8))),
                            ("end", .string("0x" + hex(region.end, width: 8))), ("bar", .optional(region.bar)),
                        ])
                    })
            ),
            (
                "framebuffers",
                .array(
                    held.framebuffers.map { fb in
                        .object([
                            ("node", .string(fb.node)), ("name", .optional(fb.name)), ("device", .optional(fb.device)),
                        ])
                    })
            ),
            ("consoleOnFramebuffer", held.consoleOnFramebuffer.map(JSON.bool) ?? .null),
            ("releasingParameters", .array(held.releasingParameters.map(JSON.string))),
        ])
    }

    /// A port's DPC capability (ext cap 0x1d) as decoded, nil for functions without one.
    private static func dpcJSON(_ dpc: DPCCapability?) -> JSON {
        guard let dpc else { return .null }
        return .object([
            ("trigger", .string(dpc.trigger.name)),
            ("triggered", .bool(dpc.triggered)),
            ("triggerReason", dpc.triggered ? .string(dpc.triggerReason.name) : .null),
            ("errorSource", .string(hex(dpc.errorSourceID, width: 4))),
            ("rootPortExtensions", .bool(dpc.rootPortExtensions)),
            ("softwareTrigger", .bool(dpc.softwareTriggerSupported)),
            ("capability", .string(hex(dpc.capability, width: 4))),
            ("control", .string(hex(dpc.control, width: 4))),
            ("status", .string(hex(dpc.status, width: 4))),
        ])
    }

    private static func deviceJSON(_ assessment: DeviceAssessment, model: HostModel, quirks: QuirkEvaluation) -> JSON? {
        guard let device = model[assessment.address] else { return nil }
        let config = device.config
        let acs: JSON =
            config.acs.map { acs in
                .object([
                    ("capability", .string(hex(acs.capability.rawValue, width: 4))),
                    ("control", .string(hex(acs.control.rawValue, width: 4))),
                ])
            } ?? .null
        let sriov: JSON =
            config.sriov.map { s in
                .object([
                    ("totalVFs", .int(Int(s.totalVFs))), ("initialVFs", .int(Int(s.initialVFs))),
                    ("numVFs", .int(Int(s.numVFs))), ("vfOffset", .int(Int(s.firstVFOffset))),
                    ("vfStride", .int(Int(s.vfStride))), ("vfDeviceId", .string(hex(s.vfDeviceID, width: 4))),
                ])
            } ?? .null
        return .object([
            ("address", .string(device.address.description)),
            ("vendorId", .string(hex(device.vendorID, width: 4))),
            ("deviceId", .string(hex(device.deviceID, width: 4))),
            ("revision", .string(hex(config.revision, width: 2))),
            ("classCode", .string(hex(config.classCode, width: 6))),
            ("name", .optional(device.name)),
            ("driver", .optional(device.driver)),
            ("pcieType", .optional(device.portType?.jsonName)),
            ("parent", .optional(device.parent?.description)),
            ("multifunction", .bool(device.isMultifunction)),
            ("acs", acs),
            ("aer", .bool(config.aer != nil)),
            ("dpc", dpcJSON(config.dpc)),
            (
                "containedBy",
                .optional(device.isBridge ? nil : model.containingPort(of: device.address)?.address.description)
            ),
            ("portServices", device.portServices.map { .array($0.sorted().map { .string($0.rawValue) }) } ?? .null),
            ("sriov", sriov),
            ("flr", .bool(config.supportsFLR)),
            ("reset", resetJSON(ResetCapability(of: device, in: model))),
            ("vfioDevice", .optional(device.vfioDeviceName)),
            ("vfioOwner", .optional(device.isVFIOOwned ? device.driver : nil)),
            ("vfioCdev", .optional(device.vfioCdevPath)),
            ("configBytes", .int(config.readableLength)),
            ("iommuGroup", .optional(device.iommuGroup)),
            ("predictedGroup", .optional(assessment.predictedGroup)),
            ("verdict", .string(assessment.verdict.rawValue)),
            ("quirks", .array((quirks.matches[device.address] ?? []).map(QuirkJSON.match))),
            (
                "reasons",
                .array(
                    assessment.reasons.map { reason in
                        .object([
                            ("code", .string(reason.code.rawValue)),
                            ("severity", .string(reason.severity.rawValue)),
                            ("message", .string(reason.message)),
                            ("related", .array(reason.related.map(JSON.string))),
                        ])
                    })
            ),
        ])
    }

    /// A group; a kernel group also has its default-domain `type` and its VFIO group node.
    private static func groupJSON(
        id: Int, members: [PCIAddress], report: InspectReport,
        kernel: (type: IOMMUGroupType?, groupNode: Bool)? = nil
    ) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .int(id)),
            ("devices", .array(members.map { .string($0.description) })),
            ("verdict", .string(report.verdict(ofGroup: members).rawValue)),
        ]
        if let kernel {
            fields.append(("type", .optional(kernel.type?.rawValue)))
            fields.append(("vfioGroupDevice", kernel.groupNode ? .string("/dev/vfio/\(id)") : .null))
        }
        return .object(fields)
    }

    private static func checkJSON(_ check: HostCheck) -> JSON {
        .object([
            ("code", .string(check.code.rawValue)), ("status", .string(check.status.rawValue)),
            ("message", .string(check.message)),
        ])
    }
}
