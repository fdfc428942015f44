/// Writes metric families in the Prometheus text exposition format 0.0.4
/// (`Content-Type: text/plain; version=0.0.4`): for each family its `# HELP` and `# TYPE`
/// lines, then one line per sample, `name{label="value",…} value`, and a final newline.
public enum ExpositionText {
    /// The content type a scrape endpoint answers with.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ families: [MetricFamily]) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(escapedHelp(family.help))\n"
            text += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                text += family.name
                if !family.labelNames.isEmpty {
                    text += "{"
                    for (index, name) in family.labelNames.enumerated() {
                        if index > 0 { text += "," }
                        text += "\(name)=\"\(escapedLabelValue(sample.labels[index]))\""
                    }
                    text += "}"
                }
                text += " \(rendered(sample.value))\n"
            }
        }
        return text
    }

    /// A label value with `\`, `"` and line feed escaped (`\\`, `\"`, `\n`), the three the
    /// format requires.
    public static func escapedLabelValue(_ value: String) -> String {
        escaped(value, quote: true)
    }

    /// HELP text with `\` and line feed escaped (the format leaves `"` alone there).
    public static func escapedHelp(_ help: String) -> String {
        escaped(help, quote: false)
    }

    /// A value as the format spells it: integers plainly, NaN and ±Inf by name.
    public static func rendered(_ value: MetricFamily.Value) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .real(let number):
            if number.isNaN { return "NaN" }
            if number.isInfinite { return number < 0 ? "-Inf" : "+Inf" }
            return String(number)
        }
    }

    private static func escaped(_ text: String, quote: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == 0x0a || (quote && $0 == 0x22) }) else {
            return text
        }
        var result = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\"" where quote: result += "\\\""
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }
}
