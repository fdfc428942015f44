import PCIModel

/// What vfioctl's HTML pages share (`inspect --format html`, `report --format html`): the
/// escaping every string from a host goes through, and the inline style sheet (the pages
/// fetch nothing).
enum HTMLPage {
    /// `text` safe in HTML text and attribute values: `& < > " '` as entities, control
    /// characters (C0 but newline and tab, DEL, C1) as `?` (`String.terminalSafe`).
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.terminalSafe.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static let css = """
        body{font-family:Helvetica,Arial,sans-serif;font-size:14px;margin:1.5em;color:#222}
        table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;\
        vertical-align:top;text-align:left}th{background:#f0f0f0}td ul{margin:0;padding-left:1.2em}
        .addr{font-family:monospace;white-space:nowrap}.picture{overflow:auto;border:1px solid #ccc}
        .picture svg{max-width:100%;height:auto}details.group{background:none}
        details.group{margin:.4em 0;border-left:6px solid #ccc;padding-left:.5em}
        summary{cursor:pointer;font-weight:bold}.note{background:#fff8e0;padding:.5em}
        .legend span{padding:2px 8px;margin-right:4px}
        .v-assignable,details.v-assignable>summary{background:#d8f0d8}
        .v-caveats,details.v-caveats>summary{background:#fff0c0}
        .v-unknown,details.v-unknown>summary{background:#dde6f4}
        .v-blocked,details.v-blocked>summary{background:#f6d0d0}.v-host{background:#eeeeee}
        details.group>summary{padding:2px 4px}
        details.v-assignable{border-color:#5a5}details.v-caveats{border-color:#cb3}
        details.v-unknown{border-color:#69c}details.v-blocked{border-color:#c55}
        .c-fail{background:#f6d0d0}.c-warn{background:#fff0c0}.c-pass{background:#d8f0d8}
        """
}
