import Foundation
import TestSupport
import Testing

/// `vfioctl inspect --lspci-dump` on dumps that libpci alone would misread: an error that
/// names the file and line, exit status 1, never a crash.
@Suite("vfioctl on hostile lspci dumps")
struct LspciDumpCLITests {
    static let real: String = (try? String(contentsOfFile: Fixtures.dump("cap-pcie-2"), encoding: .utf8)) ?? ""

    private func inspect(_ text: String, _ options: [String]) throws -> (Tool.Result, String) {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/forum-post.txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (try Tool.vfioctl(["inspect", "--lspci-dump", path] + options), path)
    }

    @Test("a repeated address is an error naming it, with --tree and without (it crashed --tree)")
    func duplicateAddress() throws {
        for options in [["--tree"], [], ["--json"]] {
            let (result, path) = try inspect(Self.real + "\n" + Self.real, options)
            #expect(result.status == 1, "\(options): exit \(result.status), \(result.standardError)")
            #expect(result.standardOutput.isEmpty)
            #expect(
                result.standardError.contains(
                    "\(path):316: 0000:01:00.0 appears again (first on line 1): a dump names each function once"))
        }
    }

    @Test("an offset line libpci would write before its buffer is an error, not a segmentation fault")
    func negativeOffset() throws {
        let (result, path) = try inspect("01:00.0 Ethernet controller: x\nffffffff: 11 22\n80000000: 11\n", ["--tree"])
        #expect(result.status == 1, "exit \(result.status), \(result.standardError)")
        #expect(result.standardError.contains("\(path):2: offset 0xffffffff is past the 4096 bytes of config space"))
    }

    @Test("device 0x20 is an error, not the device at 00")
    func deviceOutOfRange() throws {
        let (result, path) = try inspect(Self.real.replacingOccurrences(of: "01:00.0", with: "01:20.0"), [])
        #expect(result.status == 1)
        #expect(result.standardError.contains("\(path):1: \"01:20.0\" names device 0x20; PCI devices are 00 to 1f"))
        #expect(!result.standardOutput.contains("0000:01:00.0"))
    }

    @Test("the unchanged dump still inspects, as a tree too")
    func realDump() throws {
        let (result, _) = try inspect(Self.real, ["--tree"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("0000:01:00.0 [8086:10c9] endpoint"))
    }
}
