import Analysis
import PCIModel
import QuirkDB

/// `vfioctl inspect --json`, schema version 1 (Docs/json-schema.md).
enum InspectJSON {
    static let schemaVersion = 1

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
        member("host", .object([("checks", .array(report.hostChecks.map(checkJSON)))]))
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
            .map { id, members in groupJSON(id: id, members: members.sorted(), report: report) }
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
            ("sriov", sriov),
            ("flr", .bool(config.supportsFLR)),
            ("reset", resetJSON(ResetCapability(of: device, in: model))),
            ("vfioDevice", .optional(device.vfioDeviceName)),
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

    private static func groupJSON(id: Int, members: [PCIAddress], report: InspectReport) -> JSON {
        .object([
            ("id", .int(id)),
            ("devices", .array(members.map { .string($0.description) })),
            ("verdict", .string(report.verdict(ofGroup: members).rawValue)),
        ])
    }

    private static func checkJSON(_ check: HostCheck) -> JSON {
        .object([
            ("code", .string(check.code.rawValue)), ("status", .string(check.status.rawValue)),
            ("message", .string(check.message)),
        ])
    }
}
