import PCIModel

/// Text that goes into the XML `vfioctl xml` writes, made safe for where it goes
/// (XML 1.0 §2.4 character data, §2.5 comments, §3.1 attribute values).
public enum XMLText {
    /// `value` for a single-quoted attribute: `&`, `<`, `>`, `'` and `"` as entity references,
    /// tab and line breaks as character references (a parser would normalise them to spaces,
    /// §3.3.3), other control characters and noncharacters (not XML 1.0 characters) as `?`.
    public static func attribute(_ value: String) -> String {
        var result = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "'": result += "&apos;"
            case "\"": result += "&quot;"
            case "\t": result += "&#9;"
            case "\n": result += "&#10;"
            case "\r": result += "&#13;"
            default: result.unicodeScalars.append(isControl(scalar) ? "?" : scalar)
            }
        }
        return result
    }

    /// `text` as the inside of one `<!-- … -->`: a comment must not contain `--` nor end in
    /// `-` (XML 1.0 §2.5), and control characters and U+FFFE/U+FFFF are not XML characters at
    /// all (`?` instead). Line breaks
    /// become spaces, so each comment stays on one line.
    public static func comment(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\t" || scalar == "\r" {
                result += " "
            } else if isControl(scalar) {
                result += "?"
            } else if scalar == "-", result.hasSuffix("-") {
                result += " -"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        if result.hasSuffix("-") { result += " " }
        return result
    }

    /// What XML 1.0 §2.2 does not allow (C0 controls, the noncharacters U+FFFE and U+FFFF) and
    /// what it discourages (DEL, C1 controls). Tab and line breaks never get here: both
    /// callers handle them first.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isControlCharacter || scalar.value == 0xfffe || scalar.value == 0xffff
    }
}
