import Actions
import PCIModel
import Testing

/// The journal's one text format: what recovery reads after a crash must be exactly what was
/// written, whatever a driver name or domain holds, and anything else is refused.
@Suite("Journal records")
struct JournalRecordTests {
    static let records: [JournalRecord] = [
        .action("bind group 12 vfio-pci"),
        .action("hook prepare vm with spaces, 100% and\ta tab"),
        .device(PriorDriver(address: PCIAddress("0000:04:00.0")!, driver: "e1000e", override: nil)),
        .device(PriorDriver(address: PCIAddress("0000:04:00.1")!, driver: nil, override: "vfio-pci")),
        .device(PriorDriver(address: PCIAddress("0000:04:00.2")!, driver: "-", override: "")),
        .device(PriorDriver(address: PCIAddress("0000:04:00.3")!, driver: "a b%c\nd", override: "x")),
        .sriov(pf: PCIAddress("0000:03:00.0")!, previousCount: 7, previousAutoprobe: nil),
        .sriov(pf: PCIAddress("0000:03:00.0")!, previousCount: 0, previousAutoprobe: false),
        .hugepages(sizeKiB: 2048, node: nil, previousTotal: 0),
        .hugepages(sizeKiB: 1_048_576, node: 1, previousTotal: 16),
        .stateFile("domains/vm1"),
        .stateFile("bindings/group-12"),
        .module("igb"),
    ]

    @Test("every record reads back as written, one line each", arguments: records)
    func roundTrip(record: JournalRecord) throws {
        #expect(!record.line.contains("\n"))
        #expect(try JournalRecord.parse(Substring(record.line)).get() == record)
    }

    @Test("the action line reads as written; the first format's lines still parse")
    func legacy() throws {
        #expect(JournalRecord.action("bind group 3 vfio-pci").line == "action bind group 3 vfio-pci")
        #expect(try JournalRecord.parse("action bind group 3 vfio-pci").get() == .action("bind group 3 vfio-pci"))
        #expect(
            try JournalRecord.parse("device 0000:06:00.0 e1000e -").get()
                == .device(PriorDriver(address: PCIAddress("0000:06:00.0")!, driver: "e1000e", override: nil)))
        #expect(
            try JournalRecord.parse("sriov 0000:03:00.0 7").get()
                == .sriov(pf: PCIAddress("0000:03:00.0")!, previousCount: 7, previousAutoprobe: nil))
    }

    @Test(
        "anything else is refused with a reason",
        arguments: [
            "", "action ", "device 0000:06:00.0 e1000e", "device nowhere e1000e -", "sriov 0000:03:00.0 -1",
            "sriov 0000:03:00.0 2 autoprobe=maybe", "hugepages 0 - 4", "hugepages 2048 x 4", "state-file ../etc/passwd",
            "state-file domains/.hidden", "state-file /etc/passwd", "rm -rf /",
        ])
    func refused(line: String) {
        guard case .failure(let error) = JournalRecord.parse(Substring(line)) else {
            Issue.record("\(line.debugDescription) was accepted")
            return
        }
        #expect(!error.reason.isEmpty)
    }
}
