import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// Hostile or damaged lspci dumps: each is refused with `file:line` or read correctly, never
/// misread by libpci and never a crash. The dumps are the real cap-pcie-2 (an 82576 NIC,
/// 4096 bytes of config space at 01:00.0) with one thing changed.
@Suite("lspci dump limits")
struct LspciDumpLimitTests {
    static let real: String = (try? String(contentsOfFile: Fixtures.dump("cap-pcie-2"), encoding: .utf8)) ?? ""

    /// Writes `contents` to a fresh directory and reads it as a dump there.
    private func read(_ contents: [UInt8], name: String = "dump.txt") throws -> (
        Result<HostModel, HostAccessError>, String
    ) {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + name
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return (Result { () throws(HostAccessError) in try LspciDumpReader(path: path).read() }, path)
    }

    private func read(_ text: String) throws -> (Result<HostModel, HostAccessError>, String) {
        try read(Array(text.utf8))
    }

    /// The message of the error `result` must be.
    private func failure(_ result: Result<HostModel, HostAccessError>) -> String {
        guard case .failure(let error) = result else {
            Issue.record("the dump was accepted")
            return ""
        }
        #expect(error.code == .invalidInput)
        return error.message
    }

    @Test("the fixture is the one these tests change")
    func fixture() throws {
        #expect(Self.real.hasPrefix("01:00.0 Ethernet controller"))
        let model = try LspciDumpReader(path: Fixtures.dump("cap-pcie-2"), keepConfigBytes: true).read()
        #expect(model.devices.map(\.address.description) == ["0000:01:00.0"])
        #expect(model.configBytes.values.first?.count == 4096)
    }

    @Test("device 0x20 and function 8 are refused naming the line, not folded into 00 and 0")
    func addressOutOfRange() throws {
        let device = try read(
            "00:00.0 Host bridge\n00: 86 80\n\n" + Self.real.replacingOccurrences(of: "01:00.0", with: "01:20.0"))
        #expect(failure(device.0) == "\(device.1):4: \"01:20.0\" names device 0x20; PCI devices are 00 to 1f")
        let function = try read("0000:" + Self.real.replacingOccurrences(of: "01:00.0", with: "01:00.8"))
        #expect(failure(function.0) == "\(function.1):1: \"0000:01:00.8\" names function 8; PCI functions are 0 to 7")
    }

    @Test("a repeated address is refused naming both lines")
    func duplicate() throws {
        let (result, path) = try read(Self.real + "\n" + Self.real)
        #expect(
            failure(result)
                == "\(path):316: 0000:01:00.0 appears again (first on line 1): a dump names each function once")
    }

    @Test(
        "offsets libpci would misread are refused naming the line",
        arguments: [
            // libpci's %x into an int turns these into negative offsets and writes before its buffer.
            ("ffffffff: 11 22", "offset 0xffffffff is past the 4096 bytes of config space: \"ffffffff: 11 22\""),
            ("80000000: 11", "offset 0x80000000 is past the 4096 bytes of config space: \"80000000: 11\""),
            ("1000: ", "offset 0x1000 is past the 4096 bytes of config space: \"1000: \""),
            ("ff0: " + Array(repeating: "ab", count: 17).joined(separator: " "), "bytes run past the 4096 bytes"),
            ("00: 86 80 zz 12", "Malformed line"),
            ("00: 86  80", "Malformed line"),
            ("00: " + Array(repeating: "00", count: 84).joined(separator: " "), "hex line of 255 bytes; libpci reads"),
        ])
    func badHexLine(line: String, message: String) throws {
        let (result, path) = try read("01:00.0 Ethernet controller: x\n" + line + "\n")
        let text = failure(result)
        #expect(text.hasPrefix("\(path):2: "))
        #expect(text.contains(message))
    }

    @Test("long text lines, CRLF line ends and a missing last newline are read as lspci reads them")
    func tolerated() throws {
        let long = "\tProduct Name: " + String(repeating: "x", count: 400) + "\n\tSubsystem:"
        var text = Self.real.replacingOccurrences(of: "\tSubsystem:", with: long)
            .replacingOccurrences(of: "Kernel driver in use: igb", with: "Kernel driver in use: vfio-pci ")
        text.removeLast()  // no newline after the last hex line
        let model = try read(text).0.get()
        #expect(model.devices.first?.driver == "vfio-pci")
        #expect(model.devices.first?.config.sriov?.totalVFs == 8)
        #expect(model.configBytes.isEmpty)
        let crlf = try read(text.replacingOccurrences(of: "\n", with: "\r\n")).0.get()
        #expect(crlf.devices.first?.driver == "vfio-pci")
        #expect(crlf.devices.first?.config == model.devices.first?.config)
        #expect(crlf.devices.first?.config.readableLength == 4096)
    }

    @Test("a driver name that is not a module name (invalid UTF-8, escapes) is ignored with the line named")
    func badDriverName() throws {
        let parts = Self.real.components(separatedBy: "Kernel driver in use: igb")
        try #require(parts.count == 2)
        var bytes = Array("Sent from my phone ".utf8) + [0xe9, 0xff, 0x0a]
        bytes += Array((parts[0] + "Kernel driver in use: ig").utf8) + [0xff, 0x1b] + Array("[31mb".utf8)
        bytes += Array(parts[1].utf8)
        let (result, path) = try read(bytes)
        let model = try result.get()
        #expect(model.devices.first?.driver == nil)
        #expect(model.devices.first?.config.vendorID == 0x8086)
        #expect(model.anomalies == ["\(path):59: driver name \"ig\\xff\\x1b[31mb\" ignored: not a kernel module name"])
    }

    @Test("more than 65,536 functions are refused")
    func tooManyFunctions() throws {
        var text = ""
        text.reserveCapacity(1 << 21)
        for domain in 0..<2 {
            for bus in 0..<256 {
                for slot in 0..<32 {
                    for function in 0..<8 where domain == 0 || (bus == 0 && slot == 0 && function == 0) {
                        text += "000\(domain):\(hex(bus, width: 2)):\(hex(slot, width: 2)).\(function) x\n"
                    }
                }
            }
        }
        let (result, path) = try read(text)
        #expect(
            failure(result)
                == "\(path):65537: more than 65536 functions (one PCI segment): not the dump of one host")
    }

    @Test("a dump over 64 MiB is refused naming the file and the limit")
    func tooLarge() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/huge.txt"
        try Data(Self.real.utf8).write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(LspciDumpReader.maximumFileSize) + 1)
        try handle.close()
        #expect(throws: Never.self) { try LspciDumpReader(path: Fixtures.dump("tree-asus-p6t6")).read() }
        do {
            _ = try LspciDumpReader(path: path).read()
            Issue.record("a 64 MiB + 1 byte dump was read")
        } catch {
            #expect(error.message == "\(path) is larger than 64 MiB, the most vfioctl reads as an lspci dump")
        }
    }

    @Test("on every real dump the scan finds libpci's functions and bytes", arguments: LspciDumpScanDumps.names)
    func scanAgreesWithLibpci(dump: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.dump(dump))))
        let scan = try LspciDumpScan(bytes, path: dump, keepBytes: true)
        let model = try LspciDumpReader(path: Fixtures.dump(dump), keepConfigBytes: true).read()
        #expect(scan.functions.map(\.address).sorted() == model.devices.map(\.address))
        for function in scan.functions {
            let read = try #require(model.configBytes[function.address])
            #expect(read.count == min(function.length / 16 * 16, 4096))
            #expect(read == Array((function.bytes ?? []).prefix(read.count)), "\(dump) \(function.address)")
        }
    }
}

enum LspciDumpScanDumps {
    static let names: [String] = {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/pciutils")) ?? []
        return all.filter { $0 != "COPYING" && $0 != "INDEX.txt" }.sorted()
    }()
}
