import Analysis
import PCIModel

/// `vfioctl inspect --format nfd`: a feature file for node-feature-discovery's local source
/// (`/etc/kubernetes/node-feature-discovery/features.d/vfioctl`). nfd-worker reads one
/// `key[=value]` per line, skips `#` comments (`# +…` lines are its directives, which vfioctl
/// never writes) and turns each key into a node label, so a scheduler can place a guest where
/// its device is really assignable:
///
///     vfioctl.feature.node.kubernetes.io/iommu=true
///     vfioctl.feature.node.kubernetes.io/interrupt-remapping=true
///     vfioctl.feature.node.kubernetes.io/pci-8086_10c9.assignable-alone=2
///
/// The prefix is a subdomain of `feature.node.kubernetes.io`, which nfd-master accepts without
/// extra configuration (`-extra-label-ns` or the deny list do not matter for it).
public enum NodeFeatures {
    public static let prefix = "vfioctl.feature.node.kubernetes.io/"

    /// One label: a key below `prefix` and its value, both within Kubernetes' rules.
    public struct Label: Sendable, Equatable {
        public let key: String
        public let value: String
        /// Comment lines written above the label (what it counts, which functions).
        public let comment: [String]
    }

    /// The labels for a host: `iommu` (the kernel formed IOMMU groups: true, false, or unknown
    /// when the source cannot tell), `interrupt-remapping` (true, false or unknown: AMD-Vi's
    /// state is not in sysfs) and, for every model (vendor:device) of a guest candidate
    /// (vendor:device) present, how many of its functions are assignable alone
    /// (`HostGroups.isAssignableAlone`): 0 when the model is present but none is.
    public static func labels(report: InspectReport) -> [Label] {
        let groups = HostGroups(report: report)
        let checks = Dictionary(report.hostChecks.map { ($0.code, $0.status) }, uniquingKeysWith: { first, _ in first })
        var labels = [
            Label(
                key: prefix + "iommu", value: Self.value(of: checks[.iommuEnabled]),
                comment: ["IOMMU groups formed by the kernel (/sys/kernel/iommu_groups)"]),
            Label(
                key: prefix + "interrupt-remapping",
                value: Self.value(of: checks[.interruptRemapping]),
                comment: ["interrupt remapping: " + HostChecks.interruptRemappingState(report.model.facts)]),
        ]
        struct Model {
            var name: String?
            var functions: [PCIAddress] = []
            var alone: [PCIAddress] = []
        }
        // By `vvvv:dddd`: fixed-width hex, so the text order is the ids' order.
        var models: [String: Model] = [:]
        for device in report.model.devices where GroupSharing.isGuestCandidate(device) {
            models[device.ids, default: Model(name: device.name)].functions.append(device.address)
            if groups.isAssignableAlone(device, verdict: groups.verdict(of: device)) {
                models[device.ids]?.alone.append(device.address)
            }
        }
        for (ids, model) in models.sorted(by: { $0.key < $1.key }) {
            let listed = model.alone.prefix(8).map(\.description).joined(separator: " ")
            labels.append(
                Label(
                    key: prefix + "pci-\(ids.split(separator: ":").joined(separator: "_")).assignable-alone",
                    value: String(model.alone.count),
                    comment: [
                        "\(ids) \(printable(model.name ?? "unknown device")): \(model.functions.count) "
                            + "function\(model.functions.count == 1 ? "" : "s"), \(model.alone.count) assignable alone"
                            + (listed.isEmpty ? "" : " (\(listed)\(model.alone.count > 8 ? " …" : ""))")
                    ]))
        }
        return labels
    }

    /// A check as a label value: pass is true, warn or fail false (the feature is missing), unknown
    /// or no check at all unknown.
    static func value(of status: HostCheck.Status?) -> String {
        switch status {
        case .pass: "true"
        case .fail, .warn: "false"
        default: "unknown"
        }
    }

    /// The most nfd-worker reads of a feature file: a larger file is ignored whole, every label
    /// in it lost (`MaxFeatureFileSize` of NFD's local source).
    public static let maximumFileSize = 65_536

    /// The file's text: a header, then each label's comment lines and `key=value`. When the
    /// comments would make it larger than nfd-worker reads, they are left out (the labels are
    /// what matters); the text can still be larger on a host with thousands of device models,
    /// which `fitsNFD(_:)` tells.
    public static func file(report: InspectReport, version: String) -> String {
        let labels = labels(report: report)
        let header =
            "# vfioctl \(version): PCI passthrough features of \(printable(report.model.source))\n"
            + "# written by `vfioctl inspect --format nfd` for nfd-worker's local source; labels: vfioctl(8)\n"
        let commented = render(labels, header: header, comments: true)
        guard commented.utf8.count > maximumFileSize else { return commented }
        return render(
            labels,
            header: header
                + "# comments left out: nfd-worker reads at most \(maximumFileSize) bytes of a feature file\n",
            comments: false)
    }

    /// Whether nfd-worker reads `text` (it ignores a feature file over `maximumFileSize`).
    public static func fitsNFD(_ text: String) -> Bool { text.utf8.count <= maximumFileSize }

    private static func render(_ labels: [Label], header: String, comments: Bool) -> String {
        var text = header
        for label in labels {
            precondition(KubernetesLabel.isValidKey(label.key) && KubernetesLabel.isValidValue(label.value))
            if comments { for line in label.comment { text += "# \(line)\n" } }
            text += "\(label.key)=\(label.value)\n"
        }
        return text
    }

    /// Text safe on one comment line: control characters (a line feed would end the comment
    /// and start a label) become spaces.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isControlCharacter ? " " : $0 }))
    }
}
