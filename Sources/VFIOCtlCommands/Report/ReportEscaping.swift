import PCIModel

/// How `vfioctl report` shows text a host provided (hostnames, DMI strings, file names) in
/// text output: a control character is written as an escape, so a hostname holding a newline
/// cannot start a line of the report that looks like vfioctl's own (`terminalSafe`, used for
/// whole lines, keeps newlines and tabs, which the report's own layout needs).
enum ReportEscaping {
    /// `\n`, `\t`, `\r`, `\\` and `\u{XX}` for the other C0, DEL and C1 characters; the rest as is.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\\": result += "\\\\"
            default:
                if needsEscape(scalar) {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isControlCharacter || scalar == "\\"
    }
}
