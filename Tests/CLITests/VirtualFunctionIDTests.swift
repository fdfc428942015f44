import Foundation
import TestSupport
import Testing

/// A VF's config space reads vendor 0xffff; its ids are its PF's vendor and the VF Device ID
/// of the PF's SR-IOV capability, as `pci_iov_add_virtfn()` sets them. The reader takes them
/// from the PF and reads the VF's own `vendor`/`device` only when the PF cannot tell. Real
/// 82576 VFs from the lab (`lab-igb-sriov-6.12`: PF 0000:03:00.0, VFs 0000:03:10.x).
@Suite("VF ids from the PF")
struct VirtualFunctionIDTests {
    static let vf = "0000:03:10.0"

    /// The lab snapshot unpacked into a fresh directory, and `VF` and `PF` paths in it.
    func tree() throws -> (root: String, vf: String, pf: String) {
        let root = try Tool.temporaryDirectory()
        let result = try Tool.run(
            "/bin/tar", ["xzf", Fixtures.directory + "/snapshots/lab-igb-sriov-6.12.tar.gz", "-C", root])
        #expect(result.status == 0, "\(result.standardError)")
        let devices = root + "/sys/bus/pci/devices/"
        return (root, devices + Self.vf, devices + "0000:03:00.0")
    }

    func ids(of address: String, root: String) throws -> (vendor: String?, device: String?) {
        let result = try Tool.vfioctl(["inspect", "--root", root, "--json", address])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let device = (report["devices"] as? [[String: Any]])?.first
        return (device?["vendorId"] as? String, device?["deviceId"] as? String)
    }

    @Test("the ids come from the PF's SR-IOV capability: the VF's own files are not needed")
    func fromPF() throws {
        let (root, vf, _) = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try ids(of: Self.vf, root: root) == ("8086", "10ca"))
        // Files that disagree with the PF (no kernel writes them) do not change the answer.
        try "0x1234\n".write(toFile: vf + "/vendor", atomically: false, encoding: .utf8)
        try "0xabcd\n".write(toFile: vf + "/device", atomically: false, encoding: .utf8)
        #expect(try ids(of: Self.vf, root: root) == ("8086", "10ca"))
    }

    @Test("a \"PF\" that itself reads vendor 0xffff answers nothing: the VF's files are read")
    func pfReadsAllOnes() throws {
        // Found by review: a VF whose physfn named a function with an SR-IOV capability but
        // vendor 0xffff in config (here: itself, given the PF's config so read) was shown as
        // ffff:10ca.
        let (root, vf, pf) = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = try Data(contentsOf: URL(fileURLWithPath: pf + "/config"))
        config[0] = 0xff
        config[1] = 0xff
        try config.write(to: URL(fileURLWithPath: vf + "/config"))
        try FileManager.default.removeItem(atPath: vf + "/physfn")
        try FileManager.default.createSymbolicLink(atPath: vf + "/physfn", withDestinationPath: "../" + Self.vf)
        #expect(try ids(of: Self.vf, root: root) == ("8086", "10ca"))
    }

    @Test("a VF whose physfn names a function without SR-IOV reads its own files")
    func pfWithoutSRIOV() throws {
        let (root, vf, _) = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.removeItem(atPath: vf + "/physfn")
        try FileManager.default.createSymbolicLink(atPath: vf + "/physfn", withDestinationPath: "../0000:02:00.0")
        try "0x8086\n".write(toFile: vf + "/vendor", atomically: false, encoding: .utf8)
        try "0x10cb\n".write(toFile: vf + "/device", atomically: false, encoding: .utf8)
        #expect(try ids(of: Self.vf, root: root) == ("8086", "10cb"))
    }
}
