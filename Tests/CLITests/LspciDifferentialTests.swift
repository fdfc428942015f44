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
    /// DPC Capability, Control, Status, Error Source ID as lspci prints their fields.
    var dpc: DPCFields?
    /// DevCap FLReset (printed for endpoints only), AFCap TP and FLR, PM NoSoftRst: the
    /// capability bits reset reasoning rests on.
    var flr: Bool?
    var advancedFeaturesFLR: Bool?
    var noSoftReset: Bool?
}

/// The DPC registers' fields in lspci's words (`ls-ecaps.c`, cap_dpc).
struct DPCFields: Equatable {
    var interruptMessage = -1, rootPortExtensions = false, poisonedTLP = false, softwareTrigger = false
    var rpPIOLogSize = -1, dlActiveErr = false
    var trigger = -1, completionControl = false, interruptEnable = false, errCor = false, poisonedTLPEnable = false
    var softwareTriggered = false, dlActiveErrEnable = false
    var triggered = false, reason = -1, interruptStatus = false, rpBusy = false, reasonExtension = -1
    var firstErrorPointer = -1, source = -1

    init() {}

    init(_ dpc: DPCCapability) {
        interruptMessage = dpc.interruptMessageNumber
        rootPortExtensions = dpc.rootPortExtensions
        poisonedTLP = dpc.poisonedTLPBlockingSupported
        softwareTrigger = dpc.softwareTriggerSupported
        rpPIOLogSize = dpc.rpPIOLogSize
        dlActiveErr = dpc.dlActiveErrCorSupported
        trigger = Int(dpc.trigger.rawValue)
        completionControl = dpc.completionControl
        interruptEnable = dpc.interruptEnabled
        errCor = dpc.errCorEnabled
        poisonedTLPEnable = dpc.poisonedTLPBlockingEnabled
        softwareTriggered = dpc.softwareTrigger
        dlActiveErrEnable = dpc.dlActiveErrCorEnabled
        triggered = dpc.triggered
        reason = Int(dpc.triggerReason.rawValue)
        interruptStatus = dpc.interruptStatus
        rpBusy = dpc.rootPortBusy
        reasonExtension = dpc.triggerReasonExtension
        firstErrorPointer = dpc.rpPIOFirstErrorPointer
        source = Int(dpc.errorSourceID)
    }
}

enum LspciText {
    static let acsNames = ACSFlags.lspciNames

    /// Parses `lspci -vvv` blocks into per-address facts.
    static func parse(_ text: String) -> [PCIAddress: LspciFunction] {
        var result: [PCIAddress: LspciFunction] = [:]
        var current: PCIAddress?
        var register = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if !raw.hasPrefix("\t"), let space = raw.firstIndex(of: " "), let address = PCIAddress(raw[..<space]) {
                current = address
                result[address] = LspciFunction()
                continue
            }
            guard let address = current else { continue }
            // The register a line belongs to: its own label, or the last one for continuation lines.
            if let label = line.split(separator: "\t").first?.split(separator: " ").first, label.hasSuffix(":") {
                register = String(label)
            }
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
            } else if line.hasPrefix("DpcCap:") {
                var dpc = DPCFields()
                dpc.interruptMessage =
                    number(after: "IntMsgNum ", in: line) ?? number(after: "INT Msg #", in: line) ?? -1
                dpc.rootPortExtensions = line.contains("RPExt+")
                dpc.poisonedTLP = line.contains("PoisonedTLP+")
                dpc.softwareTrigger = line.contains("SwTrigger+")
                dpc.rpPIOLogSize = number(after: "RP PIO Log ", in: line) ?? -1
                dpc.dlActiveErr = line.contains("DL_ActiveErr+")
                result[address]?.dpc = dpc
            } else if line.hasPrefix("DpcCtl:") {
                result[address]?.dpc?.trigger = number(after: "Trigger:", in: line, radix: 16) ?? -1
                result[address]?.dpc?.completionControl = line.contains("Cmpl+")
                result[address]?.dpc?.interruptEnable = line.contains("INT+")
                result[address]?.dpc?.errCor = line.contains("ErrCor+")
                result[address]?.dpc?.poisonedTLPEnable = line.contains("PoisonedTLP+")
                result[address]?.dpc?.softwareTriggered = line.contains("SwTrigger+")
                result[address]?.dpc?.dlActiveErrEnable = line.contains("DL_ActiveErr+")
            } else if line.hasPrefix("DpcSta:") {
                result[address]?.dpc?.triggered = line.contains("Trigger+")
                result[address]?.dpc?.reason = number(after: "Reason:", in: line, radix: 16) ?? -1
                result[address]?.dpc?.interruptStatus = line.contains("INT+")
                result[address]?.dpc?.rpBusy = line.contains("RPBusy+")
                result[address]?.dpc?.reasonExtension = number(after: "TriggerExt:", in: line, radix: 16) ?? -1
                result[address]?.dpc?.firstErrorPointer = number(after: "ErrPtr:", in: line, radix: 16) ?? -1
            } else if line.hasPrefix("Source:"), result[address]?.dpc != nil {
                result[address]?.dpc?.source = number(after: "Source:", in: line, radix: 16) ?? -1
            } else if line.hasPrefix("AFCap:") {
                result[address]?.advancedFeaturesFLR = line.contains("TP+") && line.contains("FLR+")
            } else if line.hasPrefix("Status: D"), line.contains("NoSoftRst") {
                result[address]?.noSoftReset = line.contains("NoSoftRst+")
            } else if register == "DevCap:", line.contains("FLReset+") || line.contains("FLReset-") {
                // DevCap's FLR capability, not DevCtl's "initiate FLR" bit that lspci also calls FLReset.
                result[address]?.flr = line.contains("FLReset+")
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

    /// The number right after `label` in `line` (spaces and tabs skipped).
    private static func number(after label: String, in line: String, radix: Int = 10) -> Int? {
        guard let range = line.range(of: label) else { return nil }
        let digits = line[range.upperBound...].drop { $0 == " " || $0 == "\t" }.prefix { $0.isHexDigit }
        return Int(digits, radix: radix)
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
        function.dpc = c.dpc.map(DPCFields.init)
        if let express = c.express,
            [.endpoint, .legacyEndpoint, .rootComplexIntegratedEndpoint].contains(express.portType)
        {
            function.flr = express.supportsFLR
        }
        function.advancedFeaturesFLR = c.advancedFeatures?.supportsFLR
        function.noSoftReset = c.powerManagement?.noSoftReset
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

/// DPC (ext cap 0x1d) is in no fixture's bytes (the pciutils `cap-dpc` dump stops at 256
/// bytes), so register values are generated per the PCIe Base spec layout and lspci decodes
/// the very same bytes: a differential check over many values, not a hand-written expectation.
@Suite("DPC decoding agrees with lspci")
struct DPCDifferentialTests {
    /// A root port with PCIe, AER and DPC capabilities whose DPC registers hold the values.
    static func rootPort(capability: UInt16, control: UInt16, status: UInt16, source: UInt16) -> [UInt8] {
        var builder = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0xa110, classCode: 0x060400, headerType: 1)
        builder.setBuses(primary: 0, secondary: 1, subordinate: 1)
        builder.addExpress(type: .rootPort, slot: true)
        builder.addAER()
        builder.addDPC(capability: capability, control: control, status: status, source: source)
        return builder.bytes
    }

    /// `lspci -xxxx` text for one function at 00:1c.0.
    static func dump(_ bytes: [UInt8]) -> String {
        var text = "00:1c.0 PCI bridge: generated root port\n"
        for row in stride(from: 0, to: bytes.count, by: 16) {
            text += hex(row, width: 3) + ":" + bytes[row..<row + 16].map { " " + hex($0, width: 2) }.joined() + "\n"
        }
        return text + "\n"
    }

    @Test("every field of 64 generated register sets equals lspci's decoding")
    func agrees() throws {
        var generator = SplitMix(seed: 0x1d)
        var samples: [[UInt16]] = [[0, 0, 0, 0], [0xffff, 0xffff, 0xffff, 0xffff], [0x10bf, 0x0001, 0x0007, 0x0300]]
        while samples.count < 64 {
            samples.append((0..<4).map { _ in UInt16(truncatingIfNeeded: generator.next()) })
        }
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (index, sample) in samples.enumerated() {
            let bytes = Self.rootPort(capability: sample[0], control: sample[1], status: sample[2], source: sample[3])
            let path = directory + "/dpc-\(index)"
            try Self.dump(bytes).write(toFile: path, atomically: true, encoding: .utf8)
            let lspci = try Tool.run("/usr/bin/lspci", ["-vvv", "-F", path])
            try #require(lspci.status == 0, "lspci failed: \(lspci.standardError)")
            let reference = try #require(LspciText.parse(lspci.standardOutput).values.first)
            let referenceDPC = try #require(reference.dpc, "lspci shows no DPC for sample \(sample)")
            let ours = try #require(try LspciDumpReader(path: path).read().devices.first?.config.dpc)
            #expect(DPCFields(ours) == referenceDPC, "registers \(sample.map { hex($0, width: 4) })")
        }
    }

    @Test("a port with DPC trigger enabled is the containing port of the functions below it")
    func containingPort() throws {
        let port = try #require(
            DecodedConfig(ConfigSpace(Self.rootPort(capability: 0x10bf, control: 0x0001, status: 0, source: 0))).dpc)
        #expect(port.trigger == .fatal && port.contains && !port.triggered)
        let off = try #require(
            DecodedConfig(ConfigSpace(Self.rootPort(capability: 0x10bf, control: 0x0000, status: 0, source: 0))).dpc)
        #expect(!off.contains)
    }
}

/// A small deterministic generator (SplitMix64), so a failing sample can be reproduced.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
