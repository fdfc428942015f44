import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// What lspci (the reference decoder) prints for one function, parsed from `lspci -vvv -F`.
struct LspciFunction: Equatable {
    var portType: String?
    var acsCapability: UInt16?
    var acsControl: UInt16?
    var hasAER = false
    var sriov: [Int]?  // initial, total, num, offset, stride, VF device id
}

enum LspciText {
    static let acsNames = ACSFlags.lspciNames

    /// Parses `lspci -vvv` blocks into per-address facts.
    static func parse(_ text: String) -> [PCIAddress: LspciFunction] {
        var result: [PCIAddress: LspciFunction] = [:]
        var current: PCIAddress?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if !raw.hasPrefix("\t"), let space = raw.firstIndex(of: " "), let address = PCIAddress(raw[..<space]) {
                current = address
                result[address] = LspciFunction()
                continue
            }
            guard let address = current else { continue }
            if let range = line.range(of: #"\] Express \(v\d\) "#, options: .regularExpression) {
                var type = String(line[range.upperBound...])
                for cut in [", MSI", ", IntMsgNum", " (Slot"] {
                    if let end = type.range(of: cut) { type = String(type[..<end.lowerBound]) }
                }
                result[address]?.portType = type
            } else if line.hasPrefix("ACSCap:") {
                result[address]?.acsCapability = flags(line)
            } else if line.hasPrefix("ACSCtl:") {
                result[address]?.acsControl = flags(line)
            } else if line.contains("] Advanced Error Reporting") {
                result[address]?.hasAER = true
            } else if line.hasPrefix("Initial VFs:") {
                let numbers = integers(line, radix: 10)
                result[address]?.sriov = Array(numbers.prefix(3))
            } else if line.hasPrefix("VF offset:"), let deviceRange = line.range(of: "Device ID: ") {
                let numbers = integers(String(line[..<deviceRange.lowerBound]), radix: 10)
                let device = Int(line[deviceRange.upperBound...].prefix(4), radix: 16) ?? -1
                result[address]?.sriov? += Array(numbers.prefix(2)) + [device]
            }
        }
        return result
    }

    private static func flags(_ line: String) -> UInt16 {
        var value: UInt16 = 0
        for (flag, name) in acsNames where line.contains(name + "+") { value |= flag.rawValue }
        return value
    }

    private static func integers(_ line: String, radix: Int) -> [Int] {
        line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0, radix: radix) }
    }

    static func lspciType(_ type: PCIExpressCapability.PortType) -> String {
        switch type {
        case .endpoint: "Endpoint"
        case .legacyEndpoint: "Legacy Endpoint"
        case .rootPort: "Root Port"
        case .upstreamPort: "Upstream Port"
        case .downstreamPort: "Downstream Port"
        case .pcieToPCIBridge: "PCI-Express to PCI/PCI-X Bridge"
        case .pciToPCIeBridge: "PCI/PCI-X to PCI-Express Bridge"
        case .rootComplexIntegratedEndpoint: "Root Complex Integrated Endpoint"
        case .rootComplexEventCollector: "Root Complex Event Collector"
        }
    }

    /// vfioctl's view of a function, in the same shape.
    static func ours(_ device: PCIDevice) -> LspciFunction {
        let c = device.config
        var function = LspciFunction()
        function.portType = c.express.map { $0.portType.map(lspciType) ?? "Unknown type \($0.rawPortType)" }
        function.acsCapability = c.acs?.capability.rawValue
        function.acsControl = c.acs?.control.rawValue
        function.hasAER = c.aer != nil
        function.sriov = c.sriov.map {
            [
                Int($0.initialVFs), Int($0.totalVFs), Int($0.numVFs), Int($0.firstVFOffset), Int($0.vfStride),
                Int($0.vfDeviceID),
            ]
        }
        return function
    }
}

@Suite("Decoding agrees with lspci on every fixture")
struct LspciDifferentialTests {
    static let dumps: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/pciutils")) ?? []
        return names.filter { $0 != "COPYING" && $0 != "INDEX.txt" }.sorted()
    }()

    @Test("there are fixtures to compare")
    func fixturesPresent() {
        #expect(Self.dumps.count >= 30)
    }

    @Test("PCIe port type, ACS capability/control, AER and SR-IOV equal lspci's decoding", arguments: dumps)
    func agrees(dump: String) throws {
        let lspci = try Tool.run("/usr/bin/lspci", ["-vvv", "-F", Fixtures.dump(dump)])
        try #require(lspci.status == 0, "lspci failed on \(dump): \(lspci.standardError)")
        let reference = LspciText.parse(lspci.standardOutput)
        try #require(!reference.isEmpty)
        let fromDump = try LspciDumpReader(path: Fixtures.dump(dump)).read()
        let opened = try Snapshot.open(Fixtures.directory + "/snapshots/\(dump).tar.gz")
        let fromSnapshot = try SysfsHostReader(roots: opened.roots).read(source: dump)
        #expect(Set(fromDump.devices.map(\.address)) == Set(reference.keys))
        #expect(Set(fromSnapshot.devices.map(\.address)) == Set(reference.keys))
        for (address, expected) in reference {
            #expect(fromDump[address].map(LspciText.ours) == expected, "\(dump) \(address) read from the dump")
            #expect(fromSnapshot[address].map(LspciText.ours) == expected, "\(dump) \(address) read from its snapshot")
        }
        // The snapshot was built from the dump: the topology must come out the same both ways.
        for device in fromDump.devices {
            #expect(fromSnapshot[device.address]?.parent == device.parent, "\(dump) \(device.address) parent")
        }
    }

    @Test("the differential check sees a difference when there is one")
    func detectsDifference() throws {
        let reference = LspciText.parse(
            try Tool.run("/usr/bin/lspci", ["-vvv", "-F", Fixtures.dump("cap-pcie-1")]).standardOutput)
        var device = try #require(try LspciDumpReader(path: Fixtures.dump("cap-pcie-1")).read().devices.first)
        var acs = try #require(device.config.acs)
        acs.control = .requiredForIsolation
        device.config.acs = acs
        #expect(LspciText.ours(device) != reference[device.address])
    }
}
