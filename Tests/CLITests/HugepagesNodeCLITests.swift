import Foundation
import TestSupport
import Testing

/// `hugepages reserve --node auto --device ADDR` takes the pool of the device's `numa_node`,
/// read for that one function (the host reader no longer reads it for every function).
/// Everything here is `--dry-run` on a generated tree.
@Suite("hugepages --node auto")
struct HugepagesNodeCLITests {
    static let device = "0000:00:01.0"

    /// A generated 64-function host with 2 MiB pools host-wide and on nodes 0 and 1.
    func tree() throws -> String {
        let tree = try Tool.temporaryDirectory() + "/host"
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", tree]).status == 0)
        for pool in [
            "kernel/mm/hugepages/hugepages-2048kB", "devices/system/node/node0/hugepages/hugepages-2048kB",
            "devices/system/node/node1/hugepages/hugepages-2048kB",
        ] {
            let directory = tree + "/sys/" + pool
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try "0\n".write(toFile: directory + "/nr_hugepages", atomically: true, encoding: .utf8)
            try "0\n".write(toFile: directory + "/free_hugepages", atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: tree + "/proc/sys/vm", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: tree + "/proc/sys/vm/compact_memory", contents: Data())
        return tree
    }

    func reserve(_ tree: String, device: String = device) throws -> Tool.Result {
        try Tool.vfioctl([
            "hugepages", "reserve", "--size", "2M", "--count", "4", "--node", "auto", "--device", device, "--dry-run",
            "--root", tree,
        ])
    }

    func setNode(_ text: String, in tree: String) throws {
        try text.write(
            toFile: tree + "/sys/bus/pci/devices/\(Self.device)/numa_node", atomically: false, encoding: .utf8)
    }

    @Test("the device's node's pool, or the host-wide pool for -1")
    func nodeOfDevice() throws {
        let tree = try tree()
        defer { try? FileManager.default.removeItem(atPath: tree + "/..") }
        try setNode("1\n", in: tree)
        let onNode = try reserve(tree)
        #expect(onNode.status == 0, "\(onNode.standardError)")
        #expect(
            onNode.standardOutput.contains(
                "> \(tree)/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"))
        try setNode("-1\n", in: tree)
        let hostWide = try reserve(tree)
        #expect(hostWide.status == 0, "\(hostWide.standardError)")
        #expect(hostWide.standardOutput.contains("> \(tree)/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"))
        #expect(hostWide.standardError.contains("has no NUMA node (numa_node -1)"))
    }

    @Test("a function that is not there, or a numa_node that is no file: an error naming it")
    func refusals() throws {
        let tree = try tree()
        defer { try? FileManager.default.removeItem(atPath: tree + "/..") }
        let missing = try reserve(tree, device: "0000:7f:00.0")
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("no PCI function 0000:7f:00.0"), "\(missing.standardError)")
        let file = tree + "/sys/bus/pci/devices/\(Self.device)/numa_node"
        try FileManager.default.removeItem(atPath: file)
        #expect(mkfifo(file, 0o600) == 0)
        let fifo = try reserve(tree)
        #expect(fifo.status != 0)
        #expect(fifo.standardError.contains("numa_node is a FIFO"), "\(fifo.standardError)")
        #expect(fifo.standardOutput.isEmpty)
    }
}
