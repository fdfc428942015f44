import Analysis
import PCIModel

extension HostdevDefinitions {
    /// The elements as libvirt domain XML (formatdomain.html, "Host device assignment"), to
    /// paste inside `<devices>`: comments first, then one `<hostdev>` per endpoint. Addresses
    /// in libvirt's hex spelling: `domain='0x0000' bus='0x04' slot='0x00' function='0x0'`.
    public func xml() -> String {
        var lines: [String] = []
        lines.append(
            comment(
                "vfioctl xml: \(group.origin) of \(source), verdict \(verdict.rawValue); paste inside the domain's <devices>"
            ))
        for note in notes { lines.append(comment(note)) }
        for hostdev in hostdevs {
            lines.append("<hostdev mode='subsystem' type='pci' managed='\(hostdev.managed ? "yes" : "no")'>")
            lines.append("  <driver name='vfio'/>")
            lines.append("  <source>")
            let host = hostdev.address
            lines.append(
                "    <address"
                    + attributes([
                        ("domain", hexNumber(host.domain, width: 4)), ("bus", hexNumber(host.bus, width: 2)),
                        ("slot", hexNumber(host.device, width: 2)), ("function", hexNumber(host.function, width: 1)),
                    ]) + "/>")
            lines.append("  </source>")
            if let guest = hostdev.guestAddress {
                var pairs = [
                    ("type", "pci"), ("domain", "0x0000"), ("bus", hexNumber(guest.bus, width: 2)),
                    ("slot", hexNumber(guest.slot, width: 2)), ("function", hexNumber(guest.function, width: 1)),
                ]
                if guest.multifunction { pairs.append(("multifunction", "on")) }
                lines.append("  <address" + attributes(pairs) + "/>")
            }
            lines.append("</hostdev>")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func comment(_ text: String) -> String { "<!-- " + XMLText.comment(text) + " -->" }

    private func attributes(_ pairs: [(String, String)]) -> String {
        pairs.map { " \($0.0)='\(XMLText.attribute($0.1))'" }.joined()
    }

    private func hexNumber(_ value: some BinaryInteger, width: Int) -> String { "0x" + hex(value, width: width) }
}
