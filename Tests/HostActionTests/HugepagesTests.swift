import Foundation
import HostAccess
import Testing

/// Hugepage pools on a tree on disk. The tree models only the files: a write stores the
/// value and the re-read returns it (the kernel may give fewer pages; that path is checked
/// on the real kernel in the lab's dma-check scenario).
@Suite("Hugepage pools and the host writer")
struct HugepagesTests {
    /// sys/kernel/mm/hugepages and node0's pools, 2M and 1G, plus proc/sys/vm/compact_memory.
    func makeTree() throws -> String {
        let root = NSTemporaryDirectory() + "vfioctl-hugepages-" + UUID().uuidString
        for pool in ["sys/kernel/mm/hugepages", "sys/devices/system/node/node0/hugepages"] {
            for size in ["hugepages-2048kB", "hugepages-1048576kB"] {
                let directory = "\(root)/\(pool)/\(size)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try "0\n".write(toFile: directory + "/nr_hugepages", atomically: true, encoding: .utf8)
                try "0\n".write(toFile: directory + "/free_hugepages", atomically: true, encoding: .utf8)
            }
        }
        try FileManager.default.createDirectory(atPath: root + "/proc/sys/vm", withIntermediateDirectories: true)
        try "".write(toFile: root + "/proc/sys/vm/compact_memory", atomically: true, encoding: .utf8)
        return root
    }

    @Test("pools are listed host-wide and per node")
    func pools() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pools = try Hugepages(roots: HostRoots(path: root)).pools()
        #expect(
            pools.map { "\($0.node.map(String.init) ?? "host"):\($0.sizeKiB)" }.sorted() == [
                "0:1048576", "0:2048", "host:1048576", "host:2048",
            ])
    }

    @Test("growing a node pool compacts memory first, then writes nr_hugepages once")
    func grow() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let hugepages = Hugepages(roots: HostRoots(path: root))
        let writer = HostWriter(dryRun: false)
        let after = try hugepages.resize(HugepagePool(sizeKiB: 2048, node: 0), to: 128, writer: writer)
        #expect(after.total == 128)
        #expect(
            writer.writes.map(\.path) == [
                root + "/proc/sys/vm/compact_memory",
                root + "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
            ])
        #expect(
            try String(
                contentsOfFile: root + "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "128\n")
        // Shrinking does not compact, and the shorter value replaces the longer one whole.
        let shrink = HostWriter(dryRun: false)
        _ = try hugepages.resize(HugepagePool(sizeKiB: 2048, node: 0), to: 8, writer: shrink)
        #expect(shrink.writes.count == 1)
        #expect(
            try String(
                contentsOfFile: root + "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
                encoding: .utf8) == "8\n")
    }

    @Test("a dry run records the writes and changes nothing")
    func dryRun() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let writer = HostWriter(dryRun: true)
        _ = try Hugepages(roots: HostRoots(path: root)).resize(
            HugepagePool(sizeKiB: 1_048_576, node: nil), to: 4, writer: writer)
        #expect(
            writer.writes.map(\.description).last
                == "echo 4 > \(root)/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")
        #expect(
            try String(
                contentsOfFile: root + "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", encoding: .utf8)
                == "0\n")
    }

    @Test("a pool the kernel does not offer is an error naming the file")
    func missingPool() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect {
            _ = try Hugepages(roots: HostRoots(path: root)).read(HugepagePool(sizeKiB: 2048, node: 3))
        } throws: { error in
            "\(error)".contains("node3/hugepages/hugepages-2048kB/nr_hugepages") && "\(error)".contains("on node 3")
        }
    }

    @Test("the writer never creates files: writing to a missing attribute fails")
    func noCreate() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: HostAccessError.self) {
            try HostWriter(dryRun: false).write("1", to: "bus/pci/drivers_probe", in: HostRoots(path: root).sys)
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/sys/bus/pci/drivers_probe"))
    }
}
