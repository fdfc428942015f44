import Foundation
import HostExport
import Testing

/// Kubernetes' label rules, written here a second way: the regular expressions of
/// k8s.io/apimachinery/pkg/util/validation (qualifiedNameFmt, dns1123SubdomainFmt,
/// labelValueFmt) with their length limits. vfioctl's character-by-character check must agree
/// with them on hand-picked keys and on every label any fixture host produces (ExportFormatsCLITests).
@Suite("Kubernetes label rules")
struct KubernetesLabelTests {
    static let name = try! NSRegularExpression(pattern: "^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
    static let subdomain = try! NSRegularExpression(
        pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

    static func matches(_ expression: NSRegularExpression, _ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// apimachinery's IsQualifiedName.
    static func referenceKey(_ key: String) -> Bool {
        let parts = key.components(separatedBy: "/")
        switch parts.count {
        case 1: return parts[0].count <= 63 && matches(name, parts[0])
        case 2:
            return !parts[0].isEmpty && parts[0].count <= 253 && matches(subdomain, parts[0])
                && parts[1].count <= 63 && matches(name, parts[1])
        default: return false
        }
    }

    /// apimachinery's IsValidLabelValue.
    static func referenceValue(_ value: String) -> Bool {
        value.isEmpty || (value.count <= 63 && matches(name, value))
    }

    static let keys = [
        "vfioctl.feature.node.kubernetes.io/iommu", "vfioctl.feature.node.kubernetes.io/pci-8086_10c9.assignable-alone",
        "iommu", "a", "A.b-c_d", "-a", "a-", "a/b/c", "/a", "a/", "Example.com/a", "ex_ample.com/a", "ex..com/a",
        "-ex.com/a", "ex.com/" + String(repeating: "x", count: 63), "ex.com/" + String(repeating: "x", count: 64),
        String(repeating: "a", count: 254) + "/x", String(repeating: "a.", count: 126) + "a/x", "a b", "ä", "a\nb",
        "x.io/a..b", "x.io/_a",
    ]
    static let values = [
        "", "true", "0", "12", "unknown", "-1", "a-", String(repeating: "9", count: 63),
        String(repeating: "9", count: 64), "a b", "a/b", "a.b_c-d",
    ]

    @Test("keys: vfioctl's check agrees with apimachinery's expressions", arguments: keys)
    func key(_ key: String) {
        #expect(KubernetesLabel.isValidKey(key) == Self.referenceKey(key), "\(key)")
    }

    @Test("values: vfioctl's check agrees with apimachinery's expressions", arguments: values)
    func value(_ value: String) {
        #expect(KubernetesLabel.isValidValue(value) == Self.referenceValue(value), "\(value)")
    }
}
