import PCIModel
import Testing

/// `/proc/iomem` as kernel/resource.c prints it (two spaces per level), and hostile shapes.
@Suite("/proc/iomem parsing")
struct IOMemoryMapTests {
    @Test("a function's BAR entries: what nests in them, once each, even when named entries nest")
    func descendants() {
        let map = IOMemoryMap(
            parsing: """
                e0000000-f01fffff : PCI Bus 0000:00
                  e0000000-efffffff : 0000:09:00.0
                    e0000000-e07e8fff : BOOTFB
                      e0000000-e07e8fff : 0000:09:00.0
                        e0000000-e0000fff : simpledrm
                  f0000000-f01fffff : 0000:09:00.0
                fee00000-fee00fff : Local APIC
                """)
        #expect(map.entries.count == 7)
        // Found by the iomem fuzz target's invariants: the inner named entry's child was counted
        // twice, once from each named entry.
        #expect(map.descendants(ofEntriesNamed: "0000:09:00.0").map(\.name) == ["BOOTFB", "0000:09:00.0", "simpledrm"])
        #expect(map.descendants(ofEntriesNamed: "Local APIC").isEmpty)
    }

    @Test("unparsable lines are skipped; depth is capped at 32")
    func hostile() {
        let deep = (0..<200).map { String(repeating: "  ", count: $0) + "0-1 : x" }.joined(separator: "\n")
        let map = IOMemoryMap(parsing: deep + "\nzz-yy : BOOTFB\n\u{1}: :\n")
        #expect(map.entries.count == 200)
        #expect(map.entries.allSatisfy { $0.depth <= 32 })
    }
}
