import Analysis
import PCIModel
import QuirkDB

/// `vfioctl inspect --json`, schema version 2 (Docs/json-schema.md).
enum InspectJSON {
    static let schemaVersion = 2

    /// Streams the report to standard output: header fields, then devices one by one. The
    /// functions are assessed here, 1,024 at a time, and only their verdicts kept (for the
    /// groups' verdicts): `report` need not have assessed any.
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
        var verdicts: [PCIAddress: Verdict] = [:]
        verdicts.reserveCapacity(model.devices.count)
        // Assessed and rendered on both cores, 1,024 functions at a time (each worker
        // assesses and writes the same function), so a host's reasons are never all in
        // memory at once.
        var start = 0
        while start < model.devices.count {
            let chunk = Array(model.devices[start..<min(start + 1024, model.devices.count)])
            let rendered = chunk.parallelMap(minimumPerWorker: 128) { device -> (PCIAddress, Verdict, [UInt8]) in
                let assessment = report.assess(device)
                var writer = JSONWriter(indent: 4)
                if wanted?.contains(device.address) ?? true {
                    writeDevice(assessment, model: model, quirks: quirks, to: &writer)
                }
                return (device.address, assessment.verdict, writer.bytes)
            }
            for (address, verdict, bytes) in rendered {
                verdicts[address] = verdict
                guard !bytes.isEmpty else { continue }
                out.raw(first ? "\n    " : ",\n    ")
                out.bytes(bytes)
                first = false
            }
            start += 1024
        }
        out.raw(first ? "],\n" : "\n  ],\n")
        let kernelGroups: [JSON] = (model.kernelGroups ?? [:]).sorted { $0.key < $1.key }
            .filter { group in wanted.map { !$0.isDisjoint(with: group.value) } ?? true }
            .map { id, members in
                groupJSON(
                    id: id, members: members.sorted(), report: report, verdicts: verdicts,
                    kernel: (model.groupTypes[id], model.vfioGroupNodes.contains(id)))
            }
        member("groups", model.kernelGroups == nil ? .null : .array(kernelGroups))
        let predictedGroups: [JSON] = report.prediction.groups.enumerated()
            .filter { group in wanted.map { !$0.isDisjoint(with: group.element) } ?? true }
            .map { id, members in groupJSON(id: id, members: members, report: report, verdicts: verdicts) }
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
    private static func writeReset(_ reset: ResetCapability, to out: inout JSONWriter) {
        out.object("reset") { out in
            out.array("methods") { out in for method in reset.methods { out.string(method.rawValue) } }
            out.string("source", reset.source.rawValue)
            out.string("busResetBridge", reset.busResetBridge?.description)
            out.array("busResetAlsoResets") { out in
                for address in reset.busResetAlsoResets { out.string(address.description) }
            }
            out.bool("busListingStale", reset.busListingStale)
        }
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

    /// One entry of `devices`, written as it is built; nothing when the model lacks it.
    private static func writeDevice(
        _ assessment: DeviceAssessment, model: HostModel, quirks: QuirkEvaluation, to out: inout JSONWriter
    ) {
        guard let device = model[assessment.address] else { return }
        let config = device.config
        out.object { out in
            out.string("address", device.address.description)
            out.hexString("vendorId", device.vendorID, width: 4)
            out.hexString("deviceId", device.deviceID, width: 4)
            out.hexString("revision", config.revision, width: 2)
            out.hexString("classCode", config.classCode, width: 6)
            out.string("name", device.name)
            out.string("driver", device.driver)
            out.string("pcieType", device.portType?.jsonName)
            out.string("parent", device.parent?.description)
            out.bool("multifunction", device.isMultifunction)
            if let acs = config.acs {
                out.object("acs") { out in
                    out.hexString("capability", acs.capability.rawValue, width: 4)
                    out.hexString("control", acs.control.rawValue, width: 4)
                }
            } else {
                out.value("acs", .null)
            }
            out.bool("aer", config.aer != nil)
            out.value("dpc", dpcJSON(config.dpc))
            out.string(
                "containedBy", device.isBridge ? nil : model.containingPort(of: device.address)?.address.description)
            if let services = device.portServices {
                out.array("portServices") { out in for service in services.sorted() { out.string(service.rawValue) } }
            } else {
                out.value("portServices", .null)
            }
            if let s = config.sriov {
                out.object("sriov") { out in
                    out.int("totalVFs", Int(s.totalVFs))
                    out.int("initialVFs", Int(s.initialVFs))
                    out.int("numVFs", Int(s.numVFs))
                    out.int("vfOffset", Int(s.firstVFOffset))
                    out.int("vfStride", Int(s.vfStride))
                    out.hexString("vfDeviceId", s.vfDeviceID, width: 4)
                }
            } else {
                out.value("sriov", .null)
            }
            out.bool("flr", config.supportsFLR)
            writeReset(assessment.reset, to: &out)
            out.string("vfioDevice", device.vfioDeviceName)
            out.string("vfioOwner", device.isVFIOOwned ? device.driver : nil)
            out.string("vfioCdev", device.vfioCdevPath)
            out.int("configBytes", config.readableLength)
            out.int("iommuGroup", device.iommuGroup)
            out.int("predictedGroup", assessment.predictedGroup)
            out.string("verdict", assessment.verdict.rawValue)
            out.array("quirks") { out in
                for match in quirks.matches[device.address] ?? [] { out.value(QuirkJSON.match(match)) }
            }
            out.array("reasons") { out in
                for reason in assessment.reasons {
                    out.object { out in
                        out.string("code", reason.code.rawValue)
                        out.string("severity", reason.severity.rawValue)
                        out.string("message", reason.message)
                        out.array("related") { out in for related in reason.related { out.string(related) } }
                    }
                }
            }
        }
    }

    /// A group; a kernel group also has its default-domain `type` and its VFIO group node.
    private static func groupJSON(
        id: Int, members: [PCIAddress], report: InspectReport, verdicts: [PCIAddress: Verdict],
        kernel: (type: IOMMUGroupType?, groupNode: Bool)? = nil
    ) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .int(id)),
            ("devices", .array(members.map { .string($0.description) })),
            ("verdict", .string(report.verdict(ofGroup: members, verdicts: verdicts).rawValue)),
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
