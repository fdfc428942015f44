import PCIModel

/// An error in a quirk file: `file:line: what is wrong`.
public struct QuirkFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var message: String

    /// Also used for vfioctl's other TOML files (the AER policy): `file:line: message`.
    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }
    public var description: String { "\(file):\(line): \(message)" }
}

/// Turns a parsed TOML document into quirks, checking every key and type.
struct QuirkDecoder {
    let file: String

    func decode(_ text: String) throws(QuirkFileError) -> [Quirk] {
        let root: TOMLTable
        do {
            root = try TOMLParser.parse(text)
        } catch {
            throw QuirkFileError(file: file, line: error.line, message: error.message)
        }
        try allowOnly(["quirk"], in: root, where: "the top level")
        guard let entry = root["quirk"] else { return [] }
        guard case .tableArray(let tables) = entry.value else {
            throw fail(entry.line, "\"quirk\" must be an array of tables: write [[quirk]]")
        }
        return try tables.map(decodeQuirk)
    }

    private func fail(_ line: Int, _ message: String) -> QuirkFileError {
        QuirkFileError(file: file, line: line, message: message)
    }

    private func allowOnly(_ keys: Set<String>, in table: TOMLTable, where place: String) throws(QuirkFileError) {
        for entry in table.entries where !keys.contains(entry.key) {
            throw fail(
                entry.line, "unknown key \"\(entry.key)\" in \(place); known: \(keys.sorted().joined(separator: ", "))")
        }
    }

    // MARK: - Typed accessors

    private func string(_ table: TOMLTable, _ key: String, required: Bool = false) throws(QuirkFileError) -> String? {
        guard let entry = table[key] else {
            if required { throw fail(table.line, "missing \"\(key)\"") }
            return nil
        }
        guard case .string(let value) = entry.value, !value.isEmpty else {
            throw fail(entry.line, "\"\(key)\" must be a non-empty string, not \(entry.value.typeName)")
        }
        return value
    }

    private func strings(_ table: TOMLTable, _ key: String) throws(QuirkFileError) -> [String]? {
        guard let entry = table[key] else { return nil }
        let items: [TOMLValue]
        switch entry.value {
        case .string: items = [entry.value]
        case .array(let values): items = values
        default: throw fail(entry.line, "\"\(key)\" must be a string or an array of strings")
        }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw fail(entry.line, "\"\(key)\" must hold strings only") }
            result.append(text)
        }
        return result
    }

    private func bool(_ table: TOMLTable, _ key: String) throws(QuirkFileError) -> Bool? {
        guard let entry = table[key] else { return nil }
        guard case .bool(let value) = entry.value else { throw fail(entry.line, "\"\(key)\" must be true or false") }
        return value
    }

    /// An id set: `0x8086`, `"0x3408-0x3411"`, or an array of those.
    private func ids(_ table: TOMLTable, _ key: String, maximum: UInt32 = 0xffff) throws(QuirkFileError) -> IDSet? {
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

    private func subtable(_ table: TOMLTable, _ key: String) throws(QuirkFileError) -> TOMLTable? {
        guard let entry = table[key] else { return nil }
        guard case .table(let sub) = entry.value else { throw fail(entry.line, "\"\(key)\" must be a table") }
        return sub
    }

    // MARK: - Entries

    private func decodeQuirk(_ table: TOMLTable) throws(QuirkFileError) -> Quirk {
        try allowOnly(
            ["id", "title", "effect", "advice", "references", "sequence", "free-slots", "isolation", "match"],
            in: table,
            where: "[[quirk]]")
        guard let id = try string(table, "id", required: true),
            let title = try string(table, "title", required: true),
            let effectName = try string(table, "effect", required: true)
        else { throw fail(table.line, "missing id, title or effect") }
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), id.first?.isLetter == true else {
            throw fail(table["id"]?.line ?? table.line, "id \"\(id)\" must be lower-case words joined by -")
        }
        let effectLine = table["effect"]?.line ?? table.line
        let effect: Quirk.Effect
        switch effectName {
        case "block": effect = .block
        case "warn": effect = .warn
        case "advice": effect = .advice
        case "sriov-sequence":
            guard let sequence = try string(table, "sequence") else {
                throw fail(effectLine, "effect sriov-sequence needs \"sequence\"")
            }
            guard ["plain", "idt-workaround"].contains(sequence) else {
                throw fail(
                    table["sequence"]?.line ?? effectLine,
                    "unknown sequence \"\(sequence)\"; known: plain, idt-workaround")
            }
            effect = .sriovSequence(sequence)
        case "isolation":
            guard let rule = try subtable(table, "isolation") else {
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
        default:
            throw fail(
                effectLine,
                "unknown effect \"\(effectName)\"; known: isolation, block, warn, advice, sriov-sequence, slot-limit")
        }
        if effect.name != "isolation", table["isolation"] != nil {
            throw fail(table["isolation"]!.line, "\"isolation\" only goes with effect = \"isolation\"")
        }
        if let entry = table["free-slots"] {
            guard case .slotLimit = effect else {
                throw fail(entry.line, "\"free-slots\" only goes with effect = \"slot-limit\"")
            }
        }
        let advice = try string(table, "advice")
        if advice == nil, ["block", "warn", "advice", "sriov-sequence", "slot-limit"].contains(effect.name) {
            throw fail(effectLine, "effect \(effect.name) needs \"advice\": tell the administrator what to do")
        }
        let references = try strings(table, "references") ?? []
        guard !references.isEmpty else {
            throw fail(table.line, "quirk \(id) has no references: name the seed, bug or kernel source")
        }
        guard let matchTable = try subtable(table, "match") else {
            throw fail(table.line, "quirk \(id) has no [quirk.match]")
        }
        try allowOnly(
            [
                "vendor", "device", "subsystem-vendor", "subsystem-device", "revision", "class", "port-type",
                "multifunction",
                "root-bus", "capability", "name-lacks", "acs-path", "upstream", "guest", "host",
            ], in: matchTable, where: "[quirk.match]")
        let match = try decodeCriteria(matchTable)
        var upstream: [DeviceCriteria] = []
        if let entry = matchTable["upstream"] {
            guard case .tableArray(let tables) = entry.value else {
                throw fail(entry.line, "\"upstream\" must be an array of tables: write [[quirk.match.upstream]]")
            }
            for bridge in tables {
                try allowOnly(
                    ["vendor", "device", "subsystem-vendor", "subsystem-device", "revision", "class", "port-type"],
                    in: bridge,
                    where: "[[quirk.match.upstream]]")
                upstream.append(try decodeCriteria(bridge))
            }
        }
        let guest = try subtable(matchTable, "guest").map { table throws(QuirkFileError) in try decodeGuest(table) }
        let host = try subtable(matchTable, "host").map { table throws(QuirkFileError) in try decodeHost(table) }
        if match.isEmpty && upstream.isEmpty && guest == nil {
            throw fail(matchTable.line, "[quirk.match] of \(id) matches everything: give device or guest criteria")
        }
        if case .isolation = effect, match.isEmpty {
            throw fail(matchTable.line, "an isolation quirk must name devices")
        }
        return Quirk(
            id: id, title: title, effect: effect, advice: advice, references: references, match: match,
            upstream: upstream,
            guest: guest, host: host, source: "\(file):\(table.line)")
    }

    private func decodeIsolation(_ table: TOMLTable) throws(QuirkFileError) -> IsolationRule {
        try allowOnly(["provides", "consider", "control-offset"], in: table, where: "isolation")
        let provides = try flags(strings(table, "provides") ?? [], line: table.line)
        let consider = try strings(table, "consider").map { names throws(QuirkFileError) in
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

    private func decodeCriteria(_ table: TOMLTable) throws(QuirkFileError) -> DeviceCriteria {
        var criteria = DeviceCriteria()
        criteria.vendor = try ids(table, "vendor")
        criteria.device = try ids(table, "device")
        criteria.subsystemVendor = try ids(table, "subsystem-vendor")
        criteria.subsystemDevice = try ids(table, "subsystem-device")
        criteria.revision = try ids(table, "revision", maximum: 0xff)
        if let prefix = try string(table, "class") {
            guard [2, 4, 6].contains(prefix.count), prefix.allSatisfy(\.isHexDigit) else {
                throw fail(table["class"]!.line, "class \"\(prefix)\" must be 2, 4 or 6 hex digits (\"0604\")")
            }
            criteria.classPrefix = prefix.lowercased()
        }
        if let names = try strings(table, "port-type") {
            let byName = Dictionary(
                uniqueKeysWithValues: PCIExpressCapability.PortType.allCases.map { ($0.jsonName, $0) })
            var types: [PCIExpressCapability.PortType] = []
            for name in names {
                guard let type = byName[name] else {
                    throw fail(
                        table["port-type"]!.line,
                        "unknown port-type \"\(name)\"; known: \(byName.keys.sorted().joined(separator: ", "))")
                }
                types.append(type)
            }
            criteria.portTypes = types
        }
        criteria.multifunction = try bool(table, "multifunction")
        criteria.rootBus = try bool(table, "root-bus")
        if let capabilities = try strings(table, "capability") {
            let known: Set<String> = ["msi", "msix", "sriov", "ari", "acs", "aer", "flr"]
            if let unknown = capabilities.first(where: { !known.contains($0) }) {
                throw fail(
                    table["capability"]!.line,
                    "unknown capability \"\(unknown)\"; known: \(known.sorted().joined(separator: ", "))")
            }
            criteria.capabilities = capabilities
        }
        criteria.nameLacks = try strings(table, "name-lacks")
        if let path = try string(table, "acs-path") {
            guard path == "incomplete" else {
                throw fail(table["acs-path"]!.line, "acs-path can only be \"incomplete\"")
            }
            criteria.acsPath = path
        }
        return criteria
    }

    private func decodeGuest(_ table: TOMLTable) throws(QuirkFileError) -> GuestCriteria {
        try allowOnly(
            ["os", "arch", "machine", "hostdev-driver", "multiple-functions"], in: table, where: "[quirk.match.guest]")
        return GuestCriteria(
            os: try strings(table, "os"), arch: try strings(table, "arch"), machine: try strings(table, "machine"),
            hostdevDriver: try strings(table, "hostdev-driver"),
            multipleFunctions: try bool(table, "multiple-functions"))
    }

    private func decodeHost(_ table: TOMLTable) throws(QuirkFileError) -> HostCriteria {
        try allowOnly(
            ["cpu-vendor", "cmdline-has", "cmdline-lacks", "acpi-table", "iommu"], in: table,
            where: "[quirk.match.host]")
        let iommu = try string(table, "iommu")
        if let iommu, iommu != "on" { throw fail(table["iommu"]!.line, "iommu can only be \"on\"") }
        return HostCriteria(
            cpuVendor: try strings(table, "cpu-vendor"), cmdlineHas: try strings(table, "cmdline-has"),
            cmdlineLacks: try strings(table, "cmdline-lacks"), acpiTable: try string(table, "acpi-table"), iommu: iommu)
    }
}
