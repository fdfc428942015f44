import AERWatch
import DomainXML
import LibvirtBridge
import PCIModel

/// `GuestControl` over libvirt, on the daemon's own connection. A lost connection (libvirtd
/// restarted) is reopened on the next call.
final class LibvirtGuests: GuestControl {
    let uri: String
    private var connection: LibvirtConnection?

    init(uri: String) { self.uri = uri }

    private func connected() throws -> LibvirtConnection {
        if let connection, connection.isAlive { return connection }
        connection = nil
        let fresh = try LibvirtConnection(uri: uri)
        connection = fresh
        return fresh
    }

    private func retrying<T>(_ body: (LibvirtConnection) throws -> T) throws -> T {
        do {
            return try body(try connected())
        } catch {
            connection = nil
            return try body(try connected())
        }
    }

    func runningGuests() throws -> [String: [PCIAddress]] {
        try retrying { connection in
            var result: [String: [PCIAddress]] = [:]
            for name in try connection.activeDomainNames() {
                let xml = try connection.domainXML(name: name)
                result[name] = (try? LibvirtDomain(xml: xml))?.hostdevs.map(\.address) ?? []
            }
            return result
        }
    }

    /// "A (id 3), B (id 4)": the running guests, for the log at start and stop (a restarted
    /// guest has a new id). Without `reconnect` (at stop) only an open, live connection is
    /// asked: stopping must not wait for a libvirtd that went away.
    func summary(reconnect: Bool = true) -> String {
        do {
            let domains: [(name: String, id: UInt32)]
            if reconnect {
                domains = try retrying { try $0.activeDomains() }
            } else {
                guard let connection, connection.isAlive else { return "unknown (libvirt not connected)" }
                domains = try connection.activeDomains()
            }
            return domains.isEmpty ? "none" : domains.map { "\($0.name) (id \($0.id))" }.joined(separator: ", ")
        } catch {
            return "unknown (\(error))"
        }
    }

    func destroy(_ domain: String) throws { try retrying { try $0.destroy(domain) } }
    func shutdown(_ domain: String) throws { try retrying { try $0.shutdown(domain) } }
    func start(_ domain: String) throws { try retrying { try $0.start(domain) } }
}
