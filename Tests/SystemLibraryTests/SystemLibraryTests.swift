import DeviceEvents
import HostAccess
import LibvirtBridge
import PCIModel
import Testing

@Suite("The C libraries, used for real")
struct SystemLibraryTests {
    @Test("libvirt's test driver lists its running domain and returns its XML")
    func libvirtTestDriver() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        #expect(try connection.activeDomainNames() == ["test"])
        #expect(try connection.domainXML(name: "test").contains("<name>test</name>"))
        #expect(throws: LibvirtError.self) { try connection.domainXML(name: "no-such-domain") }
    }

    @Test("an unknown libvirt URI is an error carrying libvirt's message")
    func libvirtBadURI() {
        do {
            _ = try LibvirtConnection(uri: "nosuchdriver:///x")
            Issue.record("connecting to a nonexistent driver succeeded")
        } catch {
            #expect(error.call.contains("virConnectOpen"))
            #expect(!error.message.isEmpty)
        }
    }

    @Test("udev and libpci enumerate the same PCI functions on this machine (read-only)")
    func udevMatchesSysfs() throws {
        let udev = try #require(UdevContext())
        let fromUdev = udev.pciAddresses()
        let fromSysfs = try SysfsHostReader(roots: .live).read(source: "live").devices.map(\.address)
        #expect(!fromUdev.isEmpty)
        #expect(fromUdev == fromSysfs)
    }
}
