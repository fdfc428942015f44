import ConfigFile
import PCIModel

/// An error in a quirk file: `file:line: what is wrong`. Every configuration file vfioctl
/// reads reports errors this way (`ConfigFileError`); the name stays for QuirkDB's callers.
public typealias QuirkFileError = ConfigFileError

/// Turns a parsed TOML document into quirks, checking every key and type.
struct QuirkDecoder {
    let file: String

    func decode(_ text: String) throws(QuirkFileError) -> [Quirk] {
        let root = try ConfigTable.parse(text, file: file)
        try root.allowOnly(["quirk"])
        return try root.tables("quirk").map(decodeQuirk)
    }

    private func fail(_ line: Int, _ message: String) -> QuirkFileError {
        QuirkFileError(file: file, line: line, message: message)
    }

    // MARK: - Values of the quirk format

    /// An id set: `0x8086`, `"0x3408-0x3411"`, or an array of those.
    private func ids(_ table: ConfigTable, _ key: String, maximum: UInt32 = 0xffff) throws(QuirkFileError) -> IDSet? {
        guard let entry = table[key] else { return nil }
        let items: [TOMLValue]
        if case .array(let values) = entry.value { items = values } else { items = [entry.value] }
        var ranges: [ClosedRange<UInt32>] = []
        for item in items {
            switch item {
            case .integer(let value):
                guard value >= 0, value <= Int(maximum) else {
                    throw fail(entry.line, "\"\(key)\" value \(value) is out of range")
                }
                ranges.append(UInt32(value)...UInt32(value))
            case .string(let text):
                let parts = text.split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count == 2, let low = parseHex(parts[0]), let high = parseHex(parts[1]), low <= high,
                    high <= maximum
                else {
                    throw fail(entry.line, "\"\(key)\" range \"\(text)\" must look like \"0x3408-0x3411\"")
                }
                ranges.append(low...high)
            default:
                throw fail(entry.line, "\"\(key)\" must be a number, a \"0xLOW-0xHIGH\" range, or an array of those")
            }
        }
        guard !ranges.isEmpty else { throw fail(entry.line, "\"\(key)\" is empty") }
        return IDSet(ranges: ranges)
    }

    private func parseHex(_ text: Substring) -> UInt32? {
        let trimmed = text.hasPrefix("0x") ? text.dropFirst(2) : text
        return UInt32(trimmed, radix: 16)
    }

    private func flags(_ names: [String], line: Int) throws(QuirkFileError) -> ACSFlags {
        let known: [String: ACSFlags] = [
            "SV": .sourceValidation, "TB": .translationBlocking, "RR": .requestRedirect, "CR": .completionRedirect,
            "UF": .upstreamForwarding, "EC": .egressControl, "DT": .directTranslated,
        ]
        var result: ACSFlags = []
        for name in names {
            guard let flag = known[name] else {
                throw fail(line, "unknown ACS flag \"\(name)\"; known: SV TB RR CR UF EC DT")
            }
            result.formUnion(flag)
        }
        return result
    }

    // MARK: - Entries

    private func decodeQuirk(_ table: ConfigTable) throws(QuirkFileError) -> Quirk {
        try table.allowOnly([
            "id", "title", "effect", "advice", "references", "sequence", "free-slots", "method", "isolation", "match",
        ])
        let id = try table.required("id", table.nonEmptyString)
        let title = try table.required("title", table.nonEmptyString)
        let effectName = try table.required("effect", table.nonEmptyString)
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), id.first?.isLetter == true else {
            throw table.error("id \"\(id)\" must be lower-case words joined by -", at: "id")
        }
        let effectLine = table.line(of: "effect")
        let effect: Quirk.Effect
        switch effectName {
        case "block": effect = .block
        case "warn": effect = .warn
        case "advice": effect = .advice
        case "sriov-sequence":
            guard let sequence = try table.nonEmptyString("sequence") else {
                throw fail(effectLine, "effect sriov-sequence needs \"sequence\"")
            }
            guard ["plain", "idt-workaround"].contains(sequence) else {
                throw fail(
                    table["sequence"]?.line ?? effectLine,
                    "unknown sequence \"\(sequence)\"; known: plain, idt-workaround")
            }
            effect = .sriovSequence(sequence)
        case "isolation":
            guard let rule = try table.table("isolation") else {
                throw fail(effectLine, "effect isolation needs an isolation = { provides = [...] } table")
            }
            effect = .isolation(try decodeIsolation(rule))
        case "slot-limit":
            guard let entry = table["free-slots"] else {
                throw fail(
                    effectLine, "effect slot-limit needs \"free-slots\": the PCI slots the machine leaves for devices")
            }
            guard case .integer(let slots) = entry.value, (1...32).contains(slots) else {
                throw fail(entry.line, "free-slots must be a number of PCI slots, 1...32 (a PCI bus has 32)")
            }
            effect = .slotLimit(freeSlots: slots)
        case "reset-method":
            let known = ResetMethod.allCases.map(\.rawValue).joined(separator: ", ")
            guard let name = try table.nonEmptyString("method") else {
                throw fail(effectLine, "effect reset-method needs \"method\": the reset_method to use (\(known))")
            }
            guard let method = ResetMethod(rawValue: name) else {
                throw fail(
                    table["method"]?.line ?? effectLine, "unknown reset method \"\(name)\"; known: \(known)")
            }
            effect = .resetMethod(method)
        default:
            throw fail(
                effectLine,
                "unknown effect \"\(effectName)\"; known: isolation, block, warn, advice, sriov-sequence, slot-limit, reset-method"
            )
        }
        if !effect.isIsolation, table["isolation"] != nil {
            throw table.error("\"isolation\" only goes with effect = \"isolation\"", at: "isolation")
        }
        if let entry = table["free-slots"] {
            guard case .slotLimit = effect else {
                throw fail(entry.line, "\"free-slots\" only goes with effect = \"slot-limit\"")
            }
        }
        if let entry = table["method"], effect.requiredResetMethod == nil {
            throw fail(entry.line, "\"method\" only goes with effect = \"reset-method\"")
        }
        let advice = try table.nonEmptyString("advice")
        if advice == nil, effect.needsAdvice {
            throw fail(effectLine, "effect \(effect.name) needs \"advice\": tell the administrator what to do")
        }
        let references = try table.stringArray("references") ?? []
        guard !references.isEmpty else {
            throw table.error("quirk \(id) has no references: name the seed, bug or kernel source")
        }
        guard let matchTable = try table.table("match") else {
            throw table.error("quirk \(id) has no [quirk.match]")
        }
        try matchTable.allowOnly([
            "vendor", "device", "subsystem-vendor", "subsystem-device", "revision", "class", "port-type",
            "multifunction", "root-bus", "capability", "name-lacks", "acs-path", "upstream", "guest", "host",
        ])
        let match = try decodeCriteria(matchTable)
        var upstream: [DeviceCriteria] = []
        for bridge in try matchTable.tables("upstream") {
            try bridge.allowOnly([
                "vendor", "device", "subsystem-vendor", "subsystem-device", "revision", "class", "port-type",
            ])
            upstream.append(try decodeCriteria(bridge))
        }
        let guest = try matchTable.table("guest").map { table throws(QuirkFileError) in try decodeGuest(table) }
        let host = try matchTable.table("host").map { table throws(QuirkFileError) in try decodeHost(table) }
        if match.isEmpty && upstream.isEmpty && guest == nil {
            throw matchTable.error("[quirk.match] of \(id) matches everything: give device or guest criteria")
        }
        if case .isolation = effect, match.isEmpty {
            throw matchTable.error("an isolation quirk must name devices")
        }
        return Quirk(
            id: id, title: title, effect: effect, advice: advice, references: references, match: match,
            upstream: upstream,
            guest: guest, host: host, source: "\(file):\(table.line)")
    }

    private func decodeIsolation(_ table: ConfigTable) throws(QuirkFileError) -> IsolationRule {
        try table.allowOnly(["provides", "consider", "control-offset"])
        let provides = try flags(table.stringArray("provides") ?? [], line: table.line)
        let consider = try table.stringArray("consider").map { names throws(QuirkFileError) in
            try flags(names, line: table.line)
        }
        var offset: Int?
        if let entry = table["control-offset"] {
            guard case .integer(let value) = entry.value, value == 8 else {
                throw fail(entry.line, "control-offset must be 8 (the only layout known: Intel Sunrise Point)")
            }
            offset = value
        }
        return IsolationRule(consider: consider, provides: provides, controlOffset: offset)
    }

    private func decodeCriteria(_ table: ConfigTable) throws(QuirkFileError) -> DeviceCriteria {
        var criteria = DeviceCriteria()
        criteria.vendor = try ids(table, "vendor")
        criteria.device = try ids(table, "device")
        criteria.subsystemVendor = try ids(table, "subsystem-vendor")
        criteria.subsystemDevice = try ids(table, "subsystem-device")
        criteria.revision = try ids(table, "revision", maximum: 0xff)
        if let prefix = try table.nonEmptyString("class") {
            guard [2, 4, 6].contains(prefix.count), prefix.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
                throw table.error("class \"\(prefix)\" must be 2, 4 or 6 hex digits (\"0604\")", at: "class")
            }
            criteria.classPrefix = prefix.lowercased()
        }
        if let names = try table.stringArray("port-type") {
            let byName = Dictionary(
                uniqueKeysWithValues: PCIExpressCapability.PortType.allCases.map { ($0.jsonName, $0) })
            var types: [PCIExpressCapability.PortType] = []
            for name in names {
                guard let type = byName[name] else {
                    throw fail(
                        table.line(of: "port-type"),
                        "unknown port-type \"\(name)\"; known: \(byName.keys.sorted().joined(separator: ", "))")
                }
                types.append(type)
            }
            criteria.portTypes = types
        }
        criteria.multifunction = try table.bool("multifunction")
        criteria.rootBus = try table.bool("root-bus")
        if let capabilities = try table.stringArray("capability") {
            let known: Set<String> = ["msi", "msix", "sriov", "ari", "acs", "aer", "flr"]
            if let unknown = capabilities.first(where: { !known.contains($0) }) {
                throw fail(
                    table.line(of: "capability"),
                    "unknown capability \"\(unknown)\"; known: \(known.sorted().joined(separator: ", "))")
            }
            criteria.capabilities = capabilities
        }
        criteria.nameLacks = try table.stringArray("name-lacks")
        if let path = try table.nonEmptyString("acs-path") {
            guard path == "incomplete" else {
                throw table.error("acs-path can only be \"incomplete\"", at: "acs-path")
            }
            criteria.acsPath = path
        }
        return criteria
    }

    private func decodeGuest(_ table: ConfigTable) throws(QuirkFileError) -> GuestCriteria {
        try table.allowOnly(["os", "arch", "machine", "hostdev-driver", "multiple-functions"])
        return GuestCriteria(
            os: try table.stringArray("os"), arch: try table.stringArray("arch"),
            machine: try table.stringArray("machine"), hostdevDriver: try table.stringArray("hostdev-driver"),
            multipleFunctions: try table.bool("multiple-functions"))
    }

    private func decodeHost(_ table: ConfigTable) throws(QuirkFileError) -> HostCriteria {
        try table.allowOnly(["cpu-vendor", "cmdline-has", "cmdline-lacks", "acpi-table", "iommu", "kernel"])
        let iommu = try table.nonEmptyString("iommu").map { (value) throws(QuirkFileError) in
            guard let requirement = HostCriteria.IOMMURequirement(rawValue: value) else {
                throw table.error("iommu can only be \"on\"", at: "iommu")
            }
            return requirement
        }
        return HostCriteria(
            cpuVendor: try table.stringArray("cpu-vendor"), cmdlineHas: try table.stringArray("cmdline-has"),
            cmdlineLacks: try table.stringArray("cmdline-lacks"), acpiTable: try table.nonEmptyString("acpi-table"),
            iommu: iommu,
            kernel: try table.string("kernel").map { (text) throws(QuirkFileError) in
                do {
                    return try KernelConstraint(parsing: text)
                } catch {
                    throw table.error("\(error)", at: "kernel")
                }
            })
    }
}
