import Analysis
import PCIModel

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

    /// A YAML comment on one line: every character a YAML parser could take as a line break
    /// (line feed, carriage return, and YAML 1.1's NEL U+0085, LS U+2028 and PS U+2029, which
    /// go-yaml and PyYAML honour) or that YAML does not allow (C0 and C1 controls, DEL, U+FFFE,
    /// U+FFFF) becomes a space, so host text in a comment cannot end it and start YAML.
    private func comment(_ text: String) -> String {
        "# " + String(String.UnicodeScalarView(text.unicodeScalars.map { Self.isUnsafe($0) ? " " : $0 }))
    }

    /// A double-quoted YAML scalar (YAML 1.2 §7.3.1): `\` and `"` escaped, and every unsafe
    /// character (`isUnsafe`) as a `\uXXXX` escape.
    private func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            default:
                if Self.isUnsafe(scalar) {
                    result += "\\u" + hex(scalar.value, width: 4)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// Line breaks in any YAML version, and what YAML's printable set (§5.1) leaves out.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isControlCharacter || [0x2028, 0x2029, 0xfffe, 0xffff].contains(scalar.value)
    }
}
