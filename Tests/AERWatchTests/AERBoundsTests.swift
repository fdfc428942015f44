import AEREvents
import AERJournal
import AERSources
import AERWatch
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// Every number and string vfio-aerd reads from outside is bounded (`AERLimits`): past a bound
/// it is rejected or clamped with a message naming the bound, and never allocates or traps.
@Suite("Bounds on what vfio-aerd reads")
struct AERBoundsTests {
    static func counter(_ count: String) -> String {
        "PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=\(count)\n"
    }

    @Test(
        "COUNT past AERLimits.maxEventCount, Int.max or beyond is rejected naming the limit",
        arguments: ["100000000000", "9223372036854775807", "99999999999999999999999", "1000001"])
    func hugeCounts(count: String) throws {
        #expect { try InjectedEvents.parse(Self.counter(count), time: 1) } throws: {
            "\($0)".contains("AERLimits.maxEventCount") && "\($0)".contains("COUNT=\(count)")
        }
    }

    @Test(
        "COUNT that is not a positive decimal number is rejected",
        arguments: ["-5", "1e11", "0x10", "", " 7", "+3", "0"])
    func badCounts(count: String) throws {
        #expect { try InjectedEvents.parse(Self.counter(count), time: 1) } throws: { "\($0)".contains("COUNT=") }
    }

    @Test("COUNT at the limit is accepted as it is")
    func countAtLimit() throws {
        let event = try InjectedEvents.parse(Self.counter(String(AERLimits.maxEventCount)), time: 1)
        #expect(event?.count == AERLimits.maxEventCount)
    }

    @Test("a property the event needs that is not UTF-8 or too long is named; one it does not need is ignored")
    func unreadableProperties() throws {
        func bytes(_ parts: [[UInt8]]) -> [UInt8] { parts.flatMap { $0 + [0x0a] } }
        let slot = Array("PCI_SLOT_NAME=0000:04:00.0".utf8)
        let begin = Array("ERROR_EVENT=BEGIN_RECOVERY".utf8)
        // A stray byte after the address: not UTF-8, so not "repaired" into some other address.
        #expect { try InjectedEvents.parse(bytes: bytes([slot + [0xff], begin]), time: 1) } throws: {
            "\($0)".contains("PCI_SLOT_NAME") && "\($0)".contains("UTF-8")
        }
        // A vendor string in Latin-1 does not concern vfio-aerd.
        let model = Array("ID_MODEL_FROM_DATABASE=82576 Gigabit Network Connection ".utf8) + [0xe9, 0xe8]
        let event = try InjectedEvents.parse(bytes: bytes([model, slot, begin]), time: 1)
        #expect(event?.device.description == "0000:04:00.0" && event?.kind == .beginRecovery)
        let online = Array("DEVICE_ONLINE=".utf8) + [UInt8](repeating: UInt8(ascii: "1"), count: 5000)
        #expect { try InjectedEvents.parse(bytes: bytes([slot, begin, online]), time: 1) } throws: {
            "\($0)".contains("DEVICE_ONLINE") && "\($0)".contains("AERLimits.maxPropertyValueBytes")
        }
        // The same rules for properties from udev.
        var properties = UeventProperties()
        properties.add(key: Array("ERROR_EVENT".utf8), value: [0xc3, 0x28])
        properties.add(key: Array("PCI_SLOT_NAME".utf8), value: Array("0000:04:00.0".utf8))
        #expect { try UeventParser.parse(properties, time: 1, source: .uevent) } throws: {
            "\($0)".contains("ERROR_EVENT") && "\($0)".contains("UTF-8")
        }
        // Missing fields: not AER without ERROR_EVENT; an error without an address.
        #expect(try InjectedEvents.parse(bytes: bytes([slot]), time: 1) == nil)
        #expect { try InjectedEvents.parse(bytes: bytes([begin]), time: 1) } throws: {
            "\($0)".contains("without a PCI address")
        }
    }

    @Test("a counter file value past AERLimits.maxCounterValue, negative or unreadable is malformed")
    func counterValues() throws {
        for value in ["9007199254740993", "18446744073709551615", "-1", "1e3", "0x10"] {
            #expect {
                try AERCounters.total(in: "TOTAL_ERR_COR \(value)\n", key: "TOTAL_ERR_COR", file: "aer_dev_correctable")
            } throws: { "\($0)".contains("aer_dev_correctable") }
        }
        #expect(
            try AERCounters.total(
                in: "TOTAL_ERR_COR \(AERLimits.maxCounterValue)\n", key: "TOTAL_ERR_COR", file: "f")
                == AERLimits.maxCounterValue)
    }

    @Test("a counter that jumps by more than AERLimits.maxEventCount is one clamped event, and said so")
    func counterJump() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/host")
        let device = directory + "/host/sys/bus/pci/devices/0000:04:00.0"
        try writeCounters(in: device, correctable: 0, nonFatal: 0)
        let poller = CounterPoller(sys: HostRoots(path: directory + "/host").sys)
        #expect(poller.poll(now: 1).events.isEmpty)
        try writeCounters(in: device, correctable: AERLimits.maxCounterValue, nonFatal: 0)
        let (events, problems) = poller.poll(now: 2)
        #expect(events.map(\.count) == [AERLimits.maxEventCount])
        #expect(problems.contains { $0.contains("AERLimits.maxEventCount") && $0.contains("0000:04:00.0") })
    }

    @Test("a function whose counters went down (a reset) does not make a root port event out of nothing")
    func counterReset() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/host")
        let devices = directory + "/host/sys/bus/pci/devices/"
        func set(port total: Int, function nonFatal: Int) throws {
            try writeCounters(in: devices + "0000:00:03.0", correctable: 0, nonFatal: 0)
            for (suffix, value) in [("cor", 0), ("fatal", 0), ("nonfatal", total)] {
                try "\(value)\n".write(
                    toFile: devices + "0000:00:03.0/aer_rootport_total_err_" + suffix, atomically: true,
                    encoding: .utf8)
            }
            try writeCounters(in: devices + "0000:04:00.0", correctable: 0, nonFatal: nonFatal)
        }
        try set(port: 5, function: 5)
        let poller = CounterPoller(sys: HostRoots(path: directory + "/host").sys)
        #expect(poller.poll(now: 1).events.isEmpty)
        // The function was reset: its counter starts again at 0; the port saw nothing new.
        try set(port: 5, function: 0)
        #expect(poller.poll(now: 2).events.isEmpty)
    }

    @Test("an event with an impossible count is poisoned after one try; the watchdog goes on")
    func impossibleCount() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        watchdog.log = { lines.append($0) }
        // Int.max correctable errors: an array of that many times would be 64 EiB.
        let huge = AEREvent(time: 1, device: PCIAddress("04:00.0")!, kind: .correctable, count: .max, source: .counter)
        #expect(try watchdog.handle(huge, arrival: wallClock()).map(\.action) == [.poisoned])
        #expect(lines.contains { $0.contains("poisoned") && $0.contains("AERLimits.maxEventCount") }, "\(lines)")
        let entry = try #require(try watchdog.journal.events().first)
        #expect(entry.state == .poisoned)
        // At the limit it is handled: one warning, at the policy's threshold.
        let many = AEREvent(
            time: 2, device: PCIAddress("04:00.0")!, kind: .correctable, count: AERLimits.maxEventCount,
            source: .counter)
        #expect(try watchdog.handle(many, arrival: wallClock()).map(\.action) == [.warn])
        try watchdog.handle(WatchdogTests.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(try watchdog.journal.events(unhandledOnly: true).isEmpty)
        // A restart does not try the poisoned event again.
        try watchdog.resumeUnhandled(now: wallClock())
        #expect(try watchdog.journal.decisions().map(\.action) == [.poisoned, .warn, .destroy])
    }

    @Test("policy numbers past their limits are errors naming key, file, line and limit")
    func policyLimits() throws {
        let cases = [
            ("restart-backoff-seconds = 9223372036854775807\n", "86400"),
            ("correctable-warn-per-minute = 9223372036854775807\n", "1000000"),
            ("max-restarts-per-hour = 3601\n", "3600"),
        ]
        for (text, limit) in cases {
            #expect { try AERPolicy.parse("restart = true\n" + text, name: "aerd.toml") } throws: {
                "\($0)".contains("aerd.toml:2") && "\($0)".contains(limit)
            }
        }
    }

    @Test("the policy file is read only when it is a regular UTF-8 file within AERLimits.maxPolicyFileBytes")
    func policyFileRead() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/aerd.toml"
        #expect(try AERPolicy.read(path: path) == nil)
        // Just under the limit it is read; one byte over, refused (readTextFile would cut at 1 MiB).
        let line = "action = \"shutdown\"\n"
        let padding = String(repeating: "#", count: AERLimits.maxPolicyFileBytes - line.utf8.count - 1) + "\n"
        try (padding + line).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try AERPolicy.read(path: path)?.action == .shutdown)
        try ("#" + padding + line).write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try AERPolicy.read(path: path) } throws: {
            "\($0)".contains(path) && "\($0)".contains("\(AERLimits.maxPolicyFileBytes + 1) bytes")
                && "\($0)".contains("AERLimits.maxPolicyFileBytes")
        }
        try Data([0x61, 0x63, 0x74, 0xff, 0x0a]).write(to: URL(fileURLWithPath: path))
        #expect { try AERPolicy.read(path: path) } throws: { "\($0)".contains("UTF-8") }
        try FileManager.default.removeItem(atPath: path)
        // A FIFO would block the daemon's queue on open or read.
        #expect(mkfifo(path, 0o600) == 0)
        #expect { try AERPolicy.read(path: path) } throws: { "\($0)".contains("not a regular file") }
    }
}
