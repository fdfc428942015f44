import PCIModel
import QuirkDB

/// How quirks print, as JSON (Docs/json-schema.md, `quirks`) and as text.
enum QuirkJSON {
    static func summary(_ quirk: Quirk) -> JSON {
        .object([("id", .string(quirk.id)), ("effect", .string(quirk.effect.name)), ("title", .string(quirk.title))])
    }

    static func detail(_ quirk: Quirk) -> JSON {
        var members: [(String, JSON)] = [
            ("id", .string(quirk.id)), ("title", .string(quirk.title)), ("effect", .string(quirk.effect.name)),
            ("advice", .optional(quirk.advice)), ("references", .array(quirk.references.map(JSON.string))),
            ("source", .string(quirk.source)), ("match", .array(criteriaLines(quirk).map(JSON.string))),
        ]
        if case .sriovSequence(let sequence) = quirk.effect { members.append(("sequence", .string(sequence))) }
        if let method = quirk.effect.requiredResetMethod { members.append(("method", .string(method.rawValue))) }
        return .object(members)
    }

    /// A quirk as listed once at the top of `inspect --json` and in `quirks match --json`.
    static func entry(_ quirk: Quirk) -> JSON {
        .object([
            ("id", .string(quirk.id)), ("effect", .string(quirk.effect.name)), ("title", .string(quirk.title)),
            ("advice", .optional(quirk.advice)),
            (
                "sequence",
                { if case .sriovSequence(let s) = quirk.effect { return .string(s) } else { return .null } }()
            ),
            ("method", .optional(quirk.effect.requiredResetMethod?.rawValue)),
            ("references", .array(quirk.references.map(JSON.string))),
        ])
    }

    /// A match on one device: the id (details in the top-level `quirks`) and whether it
    /// waits for guest criteria.
    static func match(_ match: QuirkMatch) -> JSON {
        .object([
            ("id", .string(match.quirk.id)), ("effect", .string(match.quirk.effect.name)),
            ("dependsOnGuest", .bool(match.dependsOnGuest)),
        ])
    }

    static func text(_ quirk: Quirk) -> String {
        var lines = ["\(quirk.id) (\(quirk.effect.name))", "  \(quirk.title)"]
        if let advice = quirk.advice {
            lines.append(TextStyle(colour: false).wrap("advice: " + advice, indent: 2, hanging: 4))
        }
        if case .sriovSequence(let sequence) = quirk.effect { lines.append("  reload sequence: \(sequence)") }
        if let method = quirk.effect.requiredResetMethod { lines.append("  reset method: \(method)") }
        lines += criteriaLines(quirk).map { "  match: " + $0 }
        lines += quirk.references.map { "  reference: " + $0 }
        lines.append("  defined at \(quirk.source)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The criteria in words, for `show`.
    static func criteriaLines(_ quirk: Quirk) -> [String] {
        var lines: [String] = []
        let m = quirk.match
        var device: [String] = []
        if let v = m.vendor { device.append("vendor \(v)") }
        if let d = m.device { device.append("device \(d)") }
        if let r = m.revision { device.append("revision \(r)") }
        if let c = m.classPrefix { device.append("class \(c)…") }
        if let t = m.portTypes { device.append("port \(t.map(\.jsonName).joined(separator: "|"))") }
        if let f = m.multifunction { device.append(f ? "multifunction" : "single-function") }
        if let r = m.rootBus { device.append(r ? "on a root bus" : "behind a bridge") }
        if let c = m.capabilities { device.append("with \(c.joined(separator: " or "))") }
        if let n = m.nameLacks { device.append("name without \(n.joined(separator: "/"))") }
        if m.acsPath != nil { device.append("below a bridge without ACS") }
        if !device.isEmpty { lines.append(device.joined(separator: ", ")) }
        for (index, bridge) in quirk.upstream.enumerated() {
            var words: [String] = []
            if let v = bridge.vendor { words.append("vendor \(v)") }
            if let d = bridge.device { words.append("device \(d)") }
            if let r = bridge.revision { words.append("revision \(r)") }
            lines.append((index == 0 ? "behind " : "itself behind ") + words.joined(separator: " "))
        }
        if let g = quirk.guest {
            var words: [String] = []
            if let os = g.os { words.append("os \(os.joined(separator: "|"))") }
            if let arch = g.arch { words.append("arch \(arch.joined(separator: "|"))") }
            if let machine = g.machine { words.append("machine \(machine.joined(separator: "|"))") }
            if let driver = g.hostdevDriver { words.append("hostdev driver \(driver.joined(separator: "|"))") }
            if g.multipleFunctions == true { words.append("given more than one function of the device") }
            lines.append("guest: " + words.joined(separator: ", "))
        }
        if let h = quirk.host {
            var words: [String] = []
            if let cpu = h.cpuVendor { words.append("CPU \(cpu.joined(separator: "|"))") }
            if let has = h.cmdlineHas { words.append("command line has \(has.joined(separator: " "))") }
            if let lacks = h.cmdlineLacks { words.append("command line lacks \(lacks.joined(separator: " "))") }
            if let table = h.acpiTable { words.append("ACPI \(table) table") }
            if h.iommu != nil { words.append("IOMMU on") }
            if let kernel = h.kernel { words.append("kernel \(kernel)") }
            lines.append("host: " + words.joined(separator: ", "))
        }
        return lines
    }
}
