import PCIModel

/// `/proc/iomem` text as a snapshot carries it (a stranger's file): `IOMemoryMap` must parse
/// anything, keep every entry's children after it, and find descendants without looping.
enum IOMemoryFuzz {
    static func run(_ bytes: [UInt8]) {
        let map = IOMemoryMap(parsing: String(decoding: bytes, as: UTF8.self))
        for (index, entry) in map.entries.enumerated() {
            fuzzCheck(entry.depth <= 32, "depth \(entry.depth) over the cap")
            for child in entry.children {
                fuzzCheck(child > index && child < map.entries.count, "child \(child) of \(index) out of order")
                fuzzCheck(map.entries[child].depth > entry.depth, "child \(child) not deeper than \(index)")
            }
        }
        if let first = map.entries.first {
            fuzzCheck(
                map.descendants(ofEntriesNamed: first.name).count < map.entries.count, "an entry is its own descendant")
        }
    }
}
