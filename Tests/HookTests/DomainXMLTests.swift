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

    @Test("every real domain XML parses but the one libvirt's own tests expect to fail parsing")
    func allParse() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/libvirt-domains").filter
        { $0.hasSuffix(".xml") }
        #expect(names.count == 18)
        // qemuxml2argvtest: DO_TEST_PARSE_ERROR("hugepages-default-1G-nodeset-2M"): without <numa>,
        // nodeset='0' is the whole guest, so both pages are the default size.
        for name in names where name != "hugepages-default-1G-nodeset-2M.xml" { _ = try Self.domain(name) }
        #expect {
            try Self.domain("hugepages-default-1G-nodeset-2M.xml")
        } throws: { error in
            "\(error)"
                == "domain XML line 9: <page size='2048' unit='KiB'> and the <page> on line 8 both have no nodeset: only one default size"
        }
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

    @Test("s390 zPCI hostdevs are PCI functions without a guest slot; ccw mdevs and USB sources are not PCI")
    func nonX86() throws {
        let domain = try LibvirtDomain(
            xml: """
                <domain type='kvm'><name>z</name><memory>1048576</memory>
                <os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os><devices>
                <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0001' bus='0x00' slot='0x00' function='0x0'/></source><address type='pci'><zpci uid='0x0001' fid='0x00000000'/></address></hostdev>
                <hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address uuid='90c6c135-ad44-41d0-b1b7-bae47de48627'/></source><address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/></hostdev>
                <interface type='hostdev'><source><address type='usb' bus='0' device='1'/></source></interface>
                </devices></domain>
                """)
        #expect(domain.hostdevs.map(\.address.description) == ["0001:00:00.0"])
        #expect(domain.hostdevs.first?.guestSlot == nil)
        #expect(
            domain.otherHostdevs == [
                .init(kind: "hostdev type='mdev'", line: 4),
                .init(kind: "interface type='hostdev' (usb source)", line: 5),
            ])
        #expect(!domain.isX86)
        #expect(try Self.domain("net-hostdev-vfio.xml").isX86)  // i686
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

    @Test("hugepage backing: default size, explicit 2M, a 2M default over two NUMA cells")
    func hugepages() throws {
        let plain = try Self.domain("hugepages-default.xml")
        #expect(plain.hugepages?.pageSizesKiB == [nil])
        #expect(
            plain.hugepageDemands == [
                .init(sizeKiB: 2048, memoryKiB: 219_136, pages: 107, guestCells: [], hostNodes: nil)
            ])
        let numa = try Self.domain("hugepages-numa-default-2M.xml")
        #expect(numa.hugepages?.pageSizesKiB == [2048])
        #expect(numa.numaCells.map(\.memoryKiB) == [262_144, 786_432])
        #expect(
            numa.hugepageDemands == [
                .init(sizeKiB: 2048, memoryKiB: 1_048_576, pages: 512, guestCells: [0, 1], hostNodes: nil)
            ])
        #expect(try Self.domain("net-hostdev.xml").hugepages == nil)
        #expect(try Self.domain("net-hostdev.xml").hugepageDemands.isEmpty)
        #expect(numa.memoryKiB == 1_048_576)
    }

    static func memoryDomain(_ inner: String) -> String {
        "<domain><name>m</name>\(inner)<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    }

    @Test(
        "libvirt's memory units: KB/MB/GB/TB are powers of 1000, k/M/G/T and KiB…TiB of 1024, rounded up to KiB",
        arguments: [
            ("b", "1024", 1), ("bytes", "1025", 2), ("KB", "1000", 977), ("k", "3", 3), ("KiB", "3", 3),
            ("MB", "1", 977), ("M", "2", 2048), ("MiB", "2", 2048), ("GB", "2", 1_953_125),
            ("G", "1", 1_048_576), ("GiB", "1", 1_048_576), ("TB", "1", 976_562_500), ("T", "1", 1_073_741_824),
            ("TiB", "1", 1_073_741_824), ("gb", "1", 976_563), ("PiB", "1", 1_099_511_627_776),
        ])
    func memoryUnits(unit: String, value: String, kib: Int) throws {
        let domain = try LibvirtDomain(xml: Self.memoryDomain("<memory unit='\(unit)'>\(value)</memory>"))
        #expect(domain.memoryKiB == kib)
        let page = try LibvirtDomain(
            xml: Self.memoryDomain(
                "<memory>4</memory><memoryBacking><hugepages><page size='\(value)' unit='\(unit)'/></hugepages></memoryBacking>"
            ))
        #expect(page.hugepages?.pageSizesKiB == [kib])
    }

    @Test("no unit is KiB")
    func defaultUnit() throws {
        #expect(try LibvirtDomain(xml: Self.memoryDomain("<memory>524288</memory>")).memoryKiB == 524_288)
    }

    @Test(
        "sizes that would overflow or divide by zero are refused naming the element and value, never a trap",
        arguments: [
            ("<memory unit='G'>9223372036854775807</memory>", "<memory unit='G'>: 9223372036854775807 G is too large"),
            ("<memory>9223372036854775807</memory>", "<memory unit='KiB'>: 9223372036854775807 KiB is too large"),
            ("<memory unit='b'>99999999999999999999</memory>", "99999999999999999999 is too large"),
            ("<memory>-1</memory>", "'-1' is not a non-negative whole number"),
            ("<memory unit='furlong'>1</memory>", "unknown unit 'furlong'"),
            (
                "<memory>4</memory><memoryBacking><hugepages><page size='0'/></hugepages></memoryBacking>",
                "<page size='0'>: a hugepage size must be more than zero"
            ),
            (
                "<memory>4</memory><memoryBacking><hugepages><page size='8' unit='EiB'/></hugepages></memoryBacking>",
                "<page size='8' unit='EiB'>: 8 EiB is too large"
            ),
            ("<memory>4</memory><memoryBacking><hugepages><page/></hugepages></memoryBacking>", "<page> has no size="),
            (
                "<cpu><numa><cell id='0' memory='1' unit='E'/><cell id='1' memory='8' unit='E'/></numa></cpu>",
                "<cell id='1' memory='8'>: 8 E is too large"
            ),
            (
                "<numatune><memory mode='strict' nodeset='0-9223372036854775807'/></numatune><memoryBacking><hugepages/></memoryBacking>",
                "NUMA nodes go up to 1023"
            ),
        ])
    func oversized(inner: String, message: String) {
        #expect {
            try LibvirtDomain(xml: Self.memoryDomain(inner))
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    /// libvirt's documented example: 1G pages for guest cells 0-3 and 5, 2M pages for cell 4.
    static let documentedNUMA = """
        <domain type='kvm'><name>numa</name><memory unit='GiB'>12</memory>
        <memoryBacking><hugepages><page size="1" unit="G" nodeset="0-3,5"/><page size="2" unit="M" nodeset="4"/>
        </hugepages></memoryBacking><cpu><numa>
        <cell id='0' cpus='0' memory='2' unit='GiB'/><cell id='1' cpus='1' memory='2' unit='GiB'/>
        <cell id='2' cpus='2' memory='2' unit='GiB'/><cell id='3' cpus='3' memory='2' unit='GiB'/>
        <cell id='4' cpus='4' memory='3' unit='GiB'/><cell id='5' cpus='5' memory='1' unit='GiB'/>
        </numa></cpu><os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os></domain>
        """

    @Test("each NUMA cell's memory goes to the page size whose nodeset names the cell")
    func numaPageSizes() throws {
        let domain = try LibvirtDomain(xml: Self.documentedNUMA)
        #expect(domain.numaCells.map(\.id) == [0, 1, 2, 3, 4, 5])
        #expect(
            domain.hugepageDemands == [
                .init(sizeKiB: 1_048_576, memoryKiB: 9 << 20, pages: 9, guestCells: [0, 1, 2, 3, 5], hostNodes: nil),
                .init(sizeKiB: 2048, memoryKiB: 3 << 20, pages: 1536, guestCells: [4], hostNodes: nil),
            ])
        #expect(domain.hugepagesNeeded == [1_048_576: 9, 2048: 1536])
    }

    static func cells(_ pages: String, numatune: String = "", cells: Int = 3) -> String {
        let cellElements = (0..<cells).map { "<cell id='\($0)' cpus='\($0)' memory='1' unit='GiB'/>" }.joined()
        return Self.memoryDomain(
            "<memory unit='GiB'>\(cells)</memory><memoryBacking><hugepages>\(pages)</hugepages></memoryBacking>"
                + "<cpu><numa>\(cellElements)</numa></cpu>\(numatune)")
    }

    @Test("a page without nodeset takes the cells no nodeset names; without one they are ordinary memory")
    func defaultPageSize() throws {
        let withDefault = try LibvirtDomain(
            xml: Self.cells("<page size='1' unit='G'/><page size='2048' nodeset='1'/>"))
        #expect(
            withDefault.hugepageDemands == [
                .init(sizeKiB: 1_048_576, memoryKiB: 2 << 20, pages: 2, guestCells: [0, 2], hostNodes: nil),
                .init(sizeKiB: 2048, memoryKiB: 1 << 20, pages: 512, guestCells: [1], hostNodes: nil),
            ])
        let withoutDefault = try LibvirtDomain(xml: Self.cells("<page size='2048' nodeset='1'/>"))
        #expect(
            withoutDefault.hugepageDemands == [
                .init(sizeKiB: 2048, memoryKiB: 1 << 20, pages: 512, guestCells: [1], hostNodes: nil)
            ])
        // A page of the base size is ordinary memory (libvirt's hugepages-default-system-size).
        #expect(try LibvirtDomain(xml: Self.cells("<page size='4'/>")).hugepageDemands.isEmpty)
        // Without <numa>, nodeset='0' is the whole guest.
        let whole = try LibvirtDomain(
            xml: Self.memoryDomain(
                "<memory unit='MiB'>6</memory><memoryBacking><hugepages><page size='2' unit='M' nodeset='0'/></hugepages></memoryBacking>"
            ))
        #expect(whole.hugepageDemands.map(\.pages) == [3])
    }

    @Test("<numatune> strict binds a cell's pages to host nodes; memnode overrides; other modes bind nothing")
    func numaTune() throws {
        let tuned = try LibvirtDomain(
            xml: Self.cells(
                "<page size='2048'/>",
                numatune:
                    "<numatune><memory nodeset='0-1'/><memnode cellid='1' mode='strict' nodeset='1'/><memnode cellid='2' mode='preferred' nodeset='0'/></numatune>"
            ))
        #expect(
            tuned.hugepageDemands == [
                .init(sizeKiB: 2048, memoryKiB: 1 << 20, pages: 512, guestCells: [0], hostNodes: [0, 1]),
                .init(sizeKiB: 2048, memoryKiB: 1 << 20, pages: 512, guestCells: [1], hostNodes: [1]),
                .init(sizeKiB: 2048, memoryKiB: 1 << 20, pages: 512, guestCells: [2], hostNodes: nil),
            ])
        let interleaved = try LibvirtDomain(
            xml: Self.cells(
                "<page size='2048'/>", numatune: "<numatune><memory mode='interleave' nodeset='0-3,^2'/></numatune>"))
        #expect(interleaved.hugepageDemands.map(\.hostNodes) == [nil])
    }

    @Test(
        "page nodesets are checked as libvirt checks them",
        arguments: [
            ("<page size='2048'/><page size='1048576'/>", "both have no nodeset: only one default size"),
            (
                "<page size='2048' nodeset='0-1'/><page size='1048576' nodeset='1'/>",
                "intersects the nodeset of the <page> on line 1"
            ),
            ("<page size='2048' nodeset='3'/>", "names guest NUMA cell 3, which the guest does not have"),
            ("<page size='2048' nodeset='1-x'/>", "is not a node set like 0-3,^2,5"),
        ])
    func badNodesets(pages: String, message: String) {
        #expect {
            try LibvirtDomain(xml: Self.cells(pages))
        } throws: { error in
            "\(error)".contains(message)
        }
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
            ("<domain><name>x</name><memory unit='KiB'>12x</memory></domain>", 1, "'12x' is not a non-negative"),
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

    @Test(
        "domain names that are one safe file name are accepted",
        arguments: ["vm1", "win 10 (gaming)", "ü-日本語", "a..b", "name.", String(repeating: "x", count: 242)])
    func goodNames(name: String) throws {
        try DomainName.check(name)
    }

    @Test(
        "domain names that are not one safe file name are refused before anything is written",
        arguments: [
            ("", "it is empty"), ("../evil", "it contains '/'"), ("a/b", "it contains '/'"), ("..", "starts with '.'"),
            (".", "starts with '.'"), (".hidden", "starts with '.'"), ("a\u{0}b", "NUL"), ("a\nb", "newline"),
            (String(repeating: "é", count: 128), "256 bytes long; state file names hold at most 242"),
            (String(repeating: "x", count: 243), "243 bytes long; state file names hold at most 242"),
        ])
    func badNames(name: String, reason: String) {
        #expect {
            try DomainName.check(name)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".hasPrefix("domain name \"")
        }
    }
}
