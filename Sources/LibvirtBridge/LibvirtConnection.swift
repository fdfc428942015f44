import CVirt

#if canImport(Glibc)
    import Glibc
#endif

/// The one owner of a `virConnectPtr`; closed in deinit. Not Sendable: share it through an
/// actor. The daemon uses it to find and stop the guest that owns a failing device.
public final class LibvirtConnection {
    private let connection: virConnectPtr

    /// `virConnectOpen(uri)`: `qemu:///system` on a host, `test:///default` in tests.
    public init(uri: String) throws(LibvirtError) {
        // libvirt's default handler prints every error to stderr as well; ours are thrown
        // (with virGetLastError's message) and reported once by the caller.
        virSetErrorFunc(nil) { _, _ in }
        guard let connection = virConnectOpen(uri) else { throw .last("virConnectOpen(\(uri))") }
        self.connection = connection
    }

    deinit {
        virConnectClose(connection)
    }

    /// Names of the running domains (`virConnectListAllDomains` with ACTIVE).
    public func activeDomainNames() throws(LibvirtError) -> [String] {
        try activeDomains().map(\.name)
    }

    /// The running domains with their ids (`virDomainGetID`), sorted by name. A domain's id
    /// changes each time it starts: an unchanged id means it was not restarted.
    public func activeDomains() throws(LibvirtError) -> [(name: String, id: UInt32)] {
        var domains: UnsafeMutablePointer<virDomainPtr?>?
        let count = virConnectListAllDomains(connection, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        guard count >= 0, let domains else { throw .last("virConnectListAllDomains") }
        defer { free(domains) }
        var result: [(name: String, id: UInt32)] = []
        for index in 0..<Int(count) {
            guard let domain = domains[index] else { continue }
            if let name = virDomainGetName(domain) {
                result.append(
                    (
                        String(decoding: UnsafeRawBufferPointer(start: name, count: strlen(name)), as: UTF8.self),
                        virDomainGetID(domain)
                    ))
            }
            virDomainFree(domain)
        }
        return result.sorted { $0.name < $1.name }
    }

    /// `virDomainDestroy`: stop the guest now (what QEMU's own AER stop leaves us to finish).
    public func destroy(_ name: String) throws(LibvirtError) {
        try withDomain(name, "virDomainDestroy") { virDomainDestroy($0) }
    }

    /// `virDomainShutdown`: ask the guest to power off.
    public func shutdown(_ name: String) throws(LibvirtError) {
        try withDomain(name, "virDomainShutdown") { virDomainShutdown($0) }
    }

    /// `virDomainCreate`: start a defined guest.
    public func start(_ name: String) throws(LibvirtError) {
        try withDomain(name, "virDomainCreate") { virDomainCreate($0) }
    }

    /// `virConnectIsAlive`.
    public var isAlive: Bool { virConnectIsAlive(connection) == 1 }

    private func withDomain(_ name: String, _ call: String, _ body: (virDomainPtr) -> Int32) throws(LibvirtError) {
        guard let domain = virDomainLookupByName(connection, name) else {
            throw .last("virDomainLookupByName(\(name))")
        }
        defer { virDomainFree(domain) }
        guard body(domain) == 0 else { throw .last("\(call)(\(name))") }
    }

    /// The live XML of a domain (`virDomainGetXMLDesc`), which names its `<hostdev>`s.
    public func domainXML(name: String) throws(LibvirtError) -> String {
        guard let domain = virDomainLookupByName(connection, name) else {
            throw .last("virDomainLookupByName(\(name))")
        }
        defer { virDomainFree(domain) }
        guard let xml = virDomainGetXMLDesc(domain, 0) else { throw .last("virDomainGetXMLDesc(\(name))") }
        defer { free(xml) }
        return String(decoding: UnsafeRawBufferPointer(start: xml, count: strlen(xml)), as: UTF8.self)
    }
}
