import Analysis

extension KubeVirtDevices {
    /// The entries as the `permittedHostDevices` fragment of the KubeVirt CR's
    /// `spec.configuration` (KubeVirt user guide, "Host Devices Assignment"), with comments
    /// naming the functions behind each entry and the models left out, and why.
    /// `externalResourceProvider` is left out: KubeVirt's own device plugin serves the devices.
    public func yaml() -> String {
        var lines: [String] = []
        lines.append(comment("vfioctl kubevirt: \(source)"))
        lines.append(comment("Merge under spec.configuration of the KubeVirt CR (feature gate HostDevices)."))
        lines.append(comment("KubeVirt offers each matching function bound to vfio-pci: bind the listed ones first."))
        lines.append("permittedHostDevices:")
        if entries.isEmpty {
            lines.append("  " + comment("no device model has a function a VM can be given alone"))
            lines.append("  pciHostDevices: []")
        } else {
            lines.append("  pciHostDevices:")
        }
        for entry in entries {
            lines.append("    " + comment("\(entry.pciVendorSelector) \(entry.name ?? "(not in pci.ids)")"))
            for function in entry.functions {
                lines.append(
                    "    "
                        + comment("  backed by \(function.address) (\(function.group), \(function.verdict.rawValue))"))
            }
            for function in entry.excluded {
                lines.append("    " + comment("  not \(function.address), keep it off vfio-pci: \(function.why)"))
            }
            lines.append("    - pciVendorSelector: " + quoted(entry.pciVendorSelector))
            lines.append("      resourceName: " + quoted(entry.resourceName.description))
        }
        for model in skipped {
            lines.append(comment("not listed: \(model.pciVendorSelector) \(model.name ?? "(not in pci.ids)")"))
            for function in model.functions {
                lines.append(comment("  \(function.address): \(function.why)"))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML comment on one line.
    private func comment(_ text: String) -> String {
        "# " + String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? " " : Character($0) })
    }

    /// A double-quoted YAML scalar (YAML 1.2 §7.3.1): `\` and `"` escaped.
    private func quoted(_ text: String) -> String {
        var result = "\""
        for character in text {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            default: result.append(character)
            }
        }
        return result + "\""
    }
}
