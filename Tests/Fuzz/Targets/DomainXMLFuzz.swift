import DomainXML
import PCIModel

/// libvirt domain XML as the hook receives it on stdin (`LibvirtDomain(xml:)`, which runs
/// the XML reader).
enum DomainXMLFuzz {
    static func run(_ bytes: [UInt8]) {
        do {
            let domain = try LibvirtDomain(xml: String(decoding: bytes, as: UTF8.self))
            for hostdev in domain.hostdevs { fuzzCheck(hostdev.address.function < 8, "function \(hostdev.address)") }
        } catch {
            fuzzCheck(error.line >= 0, "domain XML error on line \(error.line)")
        }
    }
}
