import DomainXML
import Foundation
import PCIModel
import TestSupport
import Testing

/// libvirt's own test domains (Tests/Fixtures/libvirt-domains, from libvirt 9.0.0's
/// qemuxml2argvdata, LGPL-2.1-or-later).
@Suite("libvirt domain XML")
struct DomainXMLTests {
    static func domain(_ name: String) throws -> LibvirtDomain {
        try LibvirtDomain(xml: String(contentsOfFile: Fixtures.directory + "/libvirt-domains/\(name)", encoding: .utf8))
    }

    @Test("every real domain XML parses")
    func allParse() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/libvirt-domains").filter
        { $0.hasSuffix(".xml") }
        #expect(names.count == 18)
        for name in names { _ = try Self.domain(name) }
    }

    @Test("multifunction hostdevs: addresses across domains, functions of one device counted together")
    func multifunction() throws {
        let domain = try Self.domain("hostdev-pci-multifunction.xml")
        #expect(domain.hostdevs.count == 7)
        #expect(domain.hostdevs.first?.address.description == "0005:90:01.0")
        // Functions 0, 2 and 3 of 0005:90:01 and two functions each of two other devices.
        #expect(domain.functionsOfSameDevice(as: PCIAddress("0005:90:01.0")!) == 3)
        #expect(domain.functionsOfSameDevice(as: PCIAddress("0001:01:00.1")!) == 2)
        #expect(domain.hostdevs.allSatisfy { $0.managed && $0.driver == "vfio" && $0.kind == .hostdev })
        #expect(domain.machine == "pc" && domain.arch == "x86_64")
    }

    @Test("decimal addresses as libvirt reads them (bus='222' slot='31' function='1')")
    func decimal() throws {
        let domain = try Self.domain("hostdev-vfio-multidomain.xml")
        #expect(domain.hostdevs.map(\.address.description) == ["0021:de:1f.1"])
    }

    @Test("<interface type='hostdev'> is a PCI hostdev too; USB, SCSI and mdev hostdevs are left alone")
    func kinds() throws {
        let interface = try Self.domain("net-hostdev-vfio.xml")
        #expect(interface.hostdevs.map(\.kind) == [.interface])
        #expect(interface.hostdevs.first?.address.description == "0000:06:12.1")
        #expect(interface.arch == "i686")
        for name in ["hostdev-usb-address.xml", "hostdev-scsi-lsi.xml", "hostdev-mdev-display.xml"] {
            let domain = try Self.domain(name)
            #expect(domain.hostdevs.isEmpty, "\(name)")
            #expect(domain.otherHostdevCount >= 1, "\(name)")
        }
    }

    @Test("hugepage backing: default size, explicit 2M, 1G plus a 2M nodeset")
    func hugepages() throws {
        #expect(try Self.domain("hugepages-default.xml").hugepages?.pageSizesKiB == [nil])
        #expect(try Self.domain("hugepages-numa-default-2M.xml").hugepages?.pageSizesKiB == [2048])
        #expect(try Self.domain("hugepages-default-1G-nodeset-2M.xml").hugepages?.pageSizesKiB == [1_048_576, 2048])
        #expect(try Self.domain("net-hostdev.xml").hugepages == nil)
        #expect(try Self.domain("hugepages-numa-default-2M.xml").memoryKiB == 1_048_576)
    }

    @Test("an unassigned hostdev takes no guest slot; explicit guest addresses are collected")
    func slots() throws {
        let unassigned = try Self.domain("hostdev-pci-address-unassigned.xml")
        #expect(unassigned.hostdevs.count == 4)
        #expect(unassigned.unaddressedDevices == 3)
        let addressed = try Self.domain("hugepages-numa-default-2M.xml")
        #expect(addressed.usedGuestSlots == [1])
    }

    @Test(
        "garbage is refused with the line and what is wrong",
        arguments: [
            ("", 1, "empty document"),
            ("<domain><name>x</name>", 1, "never closed"),
            ("<domain>\n<name>x</nam>\n</domain>", 2, "</nam> closes <name>"),
            ("<network><name>x</name></network>", 1, "not a libvirt <domain>"),
            ("<domain>\n</domain>", 1, "has no <name>"),
            (
                "<domain><name>x</name><devices>\n<hostdev type='pci'><source/></hostdev></devices></domain>", 2,
                "no <source><address"
            ),
            (
                "<domain><name>x</name><devices><hostdev type='pci'><source>\n<address bus='0x04' slot='zz' function='0'/></source></hostdev></devices></domain>",
                2, "slot='zz' is not a number"
            ),
            ("<!DOCTYPE domain [<!ENTITY x 'y'>]><domain/>", 1, "document type declarations"),
            ("<domain a=1><name>x</name></domain>", 1, "not quoted"),
        ])
    func garbage(xml: String, line: Int, message: String) {
        do {
            _ = try LibvirtDomain(xml: xml)
            Issue.record("accepted garbage")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }
}
