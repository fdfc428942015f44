import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// `vfioctl inspect --kernel` and `predictionKernel`: which kernel's quirks a prediction models.
@Suite("Prediction kernel")
struct PredictionKernelCLITests {
    /// Two root ports without ACS (1234:5678) in one multifunction slot, a NIC below each; a
    /// local quirk isolates the ports from 5.10; osrelease `release` (none when nil).
    static func makeTree(release: String?) throws -> String {
        let directory = try Tool.temporaryDirectory()
        let port = Hosts.unknownMultifunctionRootPort(secondary:)
        let builders = [
            ("00:1c.0", port(1), "pcieport"), ("00:1c.1", port(2), "pcieport"),
            ("01:00.0", Hosts.endpoint(), "e1000e"), ("02:00.0", Hosts.endpoint(), "e1000e"),
        ]
        let devices = builders.map { Hosts.device($0.0, $0.1, driver: $0.2, group: 1) }
        var model = Hosts.model(devices, kernelGroups: [1: devices.map(\.address)])
        for (address, builder, _) in builders { model.configBytes[PCIAddress(address)!] = builder.bytes }
        try SysfsTreeWriter(base: FilePath(directory)).write(model)
        let fm = FileManager.default
        if let release {
            try fm.createDirectory(atPath: directory + "/proc/sys/kernel", withIntermediateDirectories: true)
            try (release + "\n").write(
                toFile: directory + "/proc/sys/kernel/osrelease", atomically: true, encoding: .utf8)
        }
        try fm.createDirectory(atPath: directory + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
        try TestQuirks.isolation(
            id: "test-root-ports-isolated", title: "test root ports isolate from 5.10", vendor: 0x1234,
            device: 0x5678, kernel: ">= 5.10"
        ).write(toFile: directory + "/etc/vfioctl/quirks.d/test.toml", atomically: true, encoding: .utf8)
        return directory
    }

    func inspect(_ tree: String, _ extra: [String] = []) throws -> [String: Any] {
        let result = try Tool.vfioctl(["inspect", "--root", tree, "--json"] + extra)
        #expect(result.status == 0, "\(result.standardError)")
        return try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any] ?? [:]
    }

    /// The predicted group holding 01:00.0, as addresses.
    func predictedGroup(_ report: [String: Any]) -> [String] {
        let groups = report["predictedGroups"] as? [[String: Any]] ?? []
        let devices = groups.map { ($0["devices"] as? [String]) ?? [] }
        return devices.first { $0.contains("0000:01:00.0") } ?? []
    }

    @Test("--kernel 5.4 on a 6.1.0-57-amd64 tree drops the 5.10 quirk: the NICs share a group again")
    func kernelOption() throws {
        let tree = try Self.makeTree(release: "6.1.0-57-amd64")
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let own = try inspect(tree)
        #expect(predictedGroup(own) == ["0000:01:00.0"])
        let kernel = own["predictionKernel"] as? [String: Any]
        #expect(kernel?["version"] as? String == "6.1")
        #expect(kernel?["source"] as? String == "osrelease")
        let old = try inspect(tree, ["--kernel", "5.4"])
        #expect(predictedGroup(old) == ["0000:00:1c.0", "0000:00:1c.1", "0000:01:00.0", "0000:02:00.0"])
        let option = old["predictionKernel"] as? [String: Any]
        #expect(option?["version"] as? String == "5.4")
        #expect(option?["source"] as? String == "option")
        let text = try Tool.vfioctl(["inspect", "--root", tree, "--kernel", "5.4.200"])
        #expect(text.standardOutput.contains("prediction models kernel 5.4.200 (--kernel)"))
    }

    @Test("a tree without osrelease: the quirk applies and inspect says the kernel is unknown")
    func unknown() throws {
        let tree = try Self.makeTree(release: nil)
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let report = try inspect(tree)
        #expect(predictedGroup(report) == ["0000:01:00.0"])
        let kernel = report["predictionKernel"] as? [String: Any]
        #expect(kernel?["version"] is NSNull)
        #expect(kernel?["source"] as? String == "unknown")
        let text = try Tool.vfioctl(["inspect", "--root", tree])
        #expect(text.standardOutput.contains("the source's kernel is unknown, every kernel-scoped quirk applies"))
    }

    @Test(
        "--kernel refuses what is not M.N[.P]",
        arguments: ["5", "6.x", "99999999999999999999.1", "-1.2", "6.1.0-57-amd64"])
    func badOption(value: String) throws {
        let tree = try Self.makeTree(release: nil)
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let result = try Tool.vfioctl(["inspect", "--root", tree, "--kernel=" + value])
        #expect(result.status != 0)
        #expect(result.standardError.contains("--kernel takes a version M.N or M.N.P"), "\(result.standardError)")
    }
}
