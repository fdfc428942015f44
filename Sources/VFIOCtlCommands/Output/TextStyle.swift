import Analysis

#if canImport(Glibc)
    import Glibc
#endif

/// Text output helpers: wrapping to 100 columns, and colour only on a terminal.
struct TextStyle {
    let colour: Bool
    let width = 100

    static var standardOutput: TextStyle { TextStyle(colour: isatty(1) == 1 && getenv("NO_COLOR") == nil) }

    func verdict(_ verdict: Verdict) -> String {
        let text = verdict.rawValue.uppercased()
        guard colour else { return text }
        let code =
            switch verdict {
            case .assignable: "32"
            case .caveats: "33"
            case .unknown: "35"
            case .blocked: "31"
            }
        return "\u{1b}[\(code)m\(text)\u{1b}[0m"
    }

    /// Word-wraps `text` to the width, every line after the first indented by `hanging`.
    func wrap(_ text: String, indent: Int, hanging: Int) -> String {
        var lines: [String] = []
        var line = String(repeating: " ", count: indent)
        var lineHasWord = false
        for word in text.split(separator: " ") {
            if lineHasWord && line.count + 1 + word.count > width {
                lines.append(line)
                line = String(repeating: " ", count: hanging)
                lineHasWord = false
            }
            line += (lineHasWord ? " " : "") + word
            lineHasWord = true
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }
}

/// `--help` prose written over several source lines, joined into one line per paragraph so
/// that ArgumentParser wraps it to the terminal instead of breaking it mid-sentence where the
/// source did. Lines indented by two spaces (examples, lists), blank lines and lines ending in
/// `:` keep their breaks.
func reflow(_ text: String) -> String {
    var out: [String] = []
    var paragraph: [Substring] = []
    func flush() {
        if !paragraph.isEmpty { out.append(paragraph.joined(separator: " ")) }
        paragraph = []
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.isEmpty || line.hasPrefix(" ") || line.hasPrefix("-") {
            flush()
            out.append(String(line))
        } else {
            paragraph.append(line)
            if line.hasSuffix(":") { flush() }
        }
    }
    flush()
    return out.joined(separator: "\n")
}
