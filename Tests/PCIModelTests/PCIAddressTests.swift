import PCIModel
import TestSupport
import Testing

@Suite("PCI addresses")
struct PCIAddressTests {
    @Test("full and short forms parse to the same function")
    func parses() throws {
        let full = try #require(PCIAddress("0000:03:1f.7"))
        #expect(full == PCIAddress(domain: 0, bus: 3, device: 0x1f, function: 7))
        #expect(PCIAddress("03:1f.7") == full)
        #expect(PCIAddress("10000:ff:00.0")?.domain == 0x10000)
        #expect(PCIAddress("0000:0A:00.1")?.bus == 0x0a)
        #expect(full.description == "0000:03:1f.7")
        #expect(PCIAddress(domain: 0x10000, bus: 1, device: 2, function: 3).description == "10000:01:02.3")
    }

    @Test(
        "malformed addresses are rejected",
        arguments: [
            "", "0000:03:20.0", "0000:03:00.8", "03:00", "0000:003:00.0", "pci0000:00", "0000:03:00.0.1", "zz:00.0",
            "0000::00.0",
        ])
    func rejects(text: String) {
        #expect(PCIAddress(text) == nil)
    }

    @Test("addresses sort by domain, bus, device, function")
    func sorts() {
        let addresses = ["0001:00:00.0", "0000:01:00.0", "0000:00:1f.3", "0000:00:02.0"].compactMap { PCIAddress($0) }
        #expect(
            addresses.sorted().map(\.description) == ["0000:00:02.0", "0000:00:1f.3", "0000:01:00.0", "0001:00:00.0"])
    }
}
