/// Kubernetes' rules for label keys and values (apimachinery's `IsQualifiedName` and
/// `IsValidLabelValue`), which nfd-master applies to every label a feature file asks for:
/// a label that breaks them is dropped with only a log line on the master.
public enum KubernetesLabel {
    /// Longest name part, and longest value.
    public static let maximumNameLength = 63
    /// Longest prefix (a DNS subdomain, RFC 1123).
    public static let maximumPrefixLength = 253

    /// `[prefix/]name`: the prefix a DNS subdomain of at most 253 characters (lower-case
    /// alphanumerics and `-`, dot-separated labels that start and end alphanumeric); the name
    /// 1–63 characters of `[A-Za-z0-9_.-]` that start and end alphanumeric.
    public static func isValidKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            return isDNSSubdomain(parts[0]) && isName(parts[1])
        }
        return isName(parts[0])
    }

    /// Empty, or up to 63 characters as a name part.
    public static func isValidValue(_ value: String) -> Bool {
        value.isEmpty || isName(Substring(value))
    }

    static func isName(_ name: Substring) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= maximumNameLength,
            isAlphanumeric(first), isAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    static func isDNSSubdomain(_ prefix: Substring) -> Bool {
        guard !prefix.isEmpty, prefix.utf8.count <= maximumPrefixLength else { return false }
        return prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let bytes = Array(label.utf8)
            guard let first = bytes.first, let last = bytes.last else { return false }
            let lowerAlphanumeric = { (byte: UInt8) in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            }
            return lowerAlphanumeric(first) && lowerAlphanumeric(last)
                && bytes.allSatisfy { lowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: false
        }
    }
}
