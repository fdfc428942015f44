import AEREvents
import AERJournal
import AERSources
import AERWatch
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// TEST DOUBLE for libvirt in unit tests: records what the watchdog asks for. The real
/// libvirtd is driven in Tests/Libvirt/libvirt-test.sh.
final class RecordingGuests: GuestControl {
    var running: [String: [PCIAddress]]
    /// Each guest's devices, as its definition has them (a restarted guest has them again).
    let defined: [String: [PCIAddress]]
    var calls: [String] = []
    /// Simulates libvirtd being away: every call fails as a dropped connection would.
    var unreachable = false
    struct Unreachable: Error {}
    init(_ running: [String: [PCIAddress]]) {
        self.running = running
        defined = running
    }
    func runningGuests() throws -> [String: [PCIAddress]] {
        if unreachable { throw Unreachable() }
        return running
    }
    func destroy(_ domain: String) throws {
        calls.append("destroy \(domain)")
        running[domain] = nil
    }
    func shutdown(_ domain: String) throws { calls.append("shutdown \(domain)") }
    func start(_ domain: String) throws {
        calls.append("start \(domain)")
        running[domain] = defined[domain] ?? []
    }
}

/// Writes a function's `aer_dev_correctable|fatal|nonfatal` TOTAL lines, as the kernel
/// shows them, into a generated tree's device directory (never the host's /sys).
func writeCounters(in device: String, correctable: Int, nonFatal: Int) throws {
    for (file, line) in [
        ("aer_dev_correctable", "TOTAL_ERR_COR \(correctable)"), ("aer_dev_fatal", "TOTAL_ERR_FATAL 0"),
        ("aer_dev_nonfatal", "TOTAL_ERR_NONFATAL \(nonFatal)"),
    ] {
        try (line + "\n").write(toFile: device + "/" + file, atomically: true, encoding: .utf8)
    }
}

@Suite("AER events, counters and the journal")
struct AERInputTests {
    @Test("uevent properties become events; malformed ones are errors; others are not AER")
    func uevents() throws {
        let begin = try UeventParser.parse(
            ["PCI_SLOT_NAME": "0000:02:00.0", "ERROR_EVENT": "BEGIN_RECOVERY", "DEVICE_ONLINE": "0"], time: 1,
            source: .uevent)
        #expect(begin?.kind == .beginRecovery && begin?.deviceOnline == false && begin?.takesGuestDown == true)
        let done = try UeventParser.parse(
            [
                "DEVPATH": "/devices/pci0000:00/0000:00:04.0/0000:02:00.0", "ERROR_EVENT": "SUCCESSFUL_RECOVERY",
                "DEVICE_ONLINE": "1",
            ], time: 1, source: .uevent)
        #expect(done?.device.description == "0000:02:00.0" && done?.deviceRecovered == true)
        #expect(
            try UeventParser.parse(["ACTION": "change", "PCI_SLOT_NAME": "0000:02:00.0"], time: 1, source: .uevent)
                == nil)
        #expect(throws: UeventParser.Malformed.self) {
            try UeventParser.parse(
                ["ERROR_EVENT": "EXPLODED", "PCI_SLOT_NAME": "0000:02:00.0"], time: 1, source: .uevent)
        }
        #expect(throws: UeventParser.Malformed.self) {
            try UeventParser.parse(["ERROR_EVENT": "BEGIN_RECOVERY"], time: 1, source: .uevent)
        }
        #expect(throws: UeventParser.Malformed.self) {
            try UeventParser.parse(
                ["ERROR_EVENT": "BEGIN_RECOVERY", "PCI_SLOT_NAME": "0000:02:00.0", "DEVICE_ONLINE": "2"], time: 1,
                source: .uevent)
        }
    }

    @Test("injected counter movements become counter-like events; bad ones say what is wrong")
    func injectedCounters() throws {
        let event = try InjectedEvents.parse("PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=7\n", time: 1)
        #expect(event?.kind == .correctable && event?.count == 7 && event?.device.description == "0000:04:00.0")
        #expect(
            try InjectedEvents.parse("PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=FAILED_RECOVERY\n", time: 1)?.kind
                == .failedRecovery)
        #expect { try InjectedEvents.parse("PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=weird\n", time: 1) } throws: {
            "\($0)".contains("AER_COUNTER=weird")
        }
        #expect {
            try InjectedEvents.parse("PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=fatal\nCOUNT=-2\n", time: 1)
        } throws: { "\($0)".contains("COUNT=-2") }
        #expect { try InjectedEvents.parse("AER_COUNTER=fatal\n", time: 1) } throws: {
            "\($0)".contains("without PCI_SLOT_NAME")
        }
    }

    @Test("counters: the TOTAL line is read, anything else malformed is an error naming the file")
    func counterFiles() throws {
        let text =
            "RxErr 0\nBadTLP 2\nBadDLLP 0\nRollover 0\nTimeout 0\nNonFatalErr 1\nCorrIntErr 0\nHeaderOF 0\nTOTAL_ERR_COR 3\n"
        #expect(try AERCounters.total(in: text, key: "TOTAL_ERR_COR", file: "f") == 3)
        #expect {
            try AERCounters.total(in: "TOTAL_ERR_COR x\n", key: "TOTAL_ERR_COR", file: "aer_dev_correctable")
        } throws: { "\($0)".contains("aer_dev_correctable") }
        #expect { try AERCounters.total(in: "Undefined 0\n", key: "TOTAL_ERR_FATAL", file: "aer_dev_fatal") } throws: {
            "\($0)".contains("no TOTAL_ERR_FATAL")
        }
    }

    @Test("the poller turns counter increases into events and reports a broken file once")
    func poller() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/host")
        let port = directory + "/host/sys/bus/pci/devices/0000:00:03.0"
        try writeCounters(in: port, correctable: 0, nonFatal: 0)
        let poller = CounterPoller(sys: HostRoots(path: directory + "/host").sys)
        #expect(poller.poll(now: 1).events.isEmpty)
        try writeCounters(in: port, correctable: 5, nonFatal: 1)
        let events = poller.poll(now: 2).events
        #expect(events.map(\.kind) == [.nonFatal, .correctable])
        #expect(events.last?.count == 5)
        try "garbage\n".write(toFile: port + "/aer_dev_fatal", atomically: true, encoding: .utf8)
        #expect(poller.poll(now: 3).problems.count == 1)
        #expect(poller.poll(now: 4).problems.isEmpty)
    }

    @Test("the shipped policy example parses to the documented defaults; a wrong value names file and line")
    func policyFile() throws {
        let example = Fixtures.directory + "/../../Docs/aerd.toml.example"
        #expect(try AERPolicy.load(path: example) == AERPolicy())
        #expect { try AERPolicy.parse("restart = true\naction = \"reboot\"\n", name: "aerd.toml") } throws: {
            "\($0)".contains("aerd.toml:2")
        }
        #expect { try AERPolicy.parse("restart-after = 3\n", name: "aerd.toml") } throws: {
            "\($0)".contains("aerd.toml:1: unknown key \"restart-after\" in the top level")
        }
    }

    @Test("root-port totals that grew beyond the counters below the port are an event on the port")
    func rootPortTotals() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/host")
        let devices = directory + "/host/sys/bus/pci/devices/"
        func set(_ address: String, nonfatal: Int, rootTotal: Int? = nil) throws {
            try writeCounters(in: devices + address, correctable: 0, nonFatal: nonfatal)
            guard let rootTotal else { return }
            for (suffix, value) in [("cor", 0), ("fatal", 0), ("nonfatal", rootTotal)] {
                try "\(value)\n".write(
                    toFile: devices + address + "/aer_rootport_total_err_" + suffix, atomically: true, encoding: .utf8)
            }
        }
        try set("0000:00:03.0", nonfatal: 0, rootTotal: 0)
        try set("0000:04:00.0", nonfatal: 0)
        let poller = CounterPoller(sys: HostRoots(path: directory + "/host").sys)
        #expect(poller.poll(now: 1).events.isEmpty)
        // Three messages reached the port; the kernel attributed one to 04:00.0 (below it).
        try set("0000:00:03.0", nonfatal: 0, rootTotal: 3)
        try set("0000:04:00.0", nonfatal: 1)
        let events = poller.poll(now: 2).events.map { "\($0.device) \($0.kind.rawValue) \($0.count)" }.sorted()
        #expect(events == ["0000:00:03.0 nonfatal 2", "0000:04:00.0 nonfatal 1"])
        // All attributed: no event on the port.
        try set("0000:00:03.0", nonfatal: 0, rootTotal: 4)
        try set("0000:04:00.0", nonfatal: 2)
        #expect(poller.poll(now: 3).events.map(\.device.description) == ["0000:04:00.0"])
        try "lots\n".write(
            toFile: devices + "0000:00:03.0/aer_rootport_total_err_fatal", atomically: true, encoding: .utf8)
        #expect(poller.poll(now: 4).problems.first?.contains("aer_rootport_total_err_fatal") == true)
    }

    @Test("journal entries survive a reopen; unhandled ones stay unhandled until recorded")
    func journal() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/aer.db"
        let id: Int64
        do {
            let store = try AERJournal(path: path)
            id = try store.append(
                AEREvent(
                    time: 1, device: PCIAddress("04:00.0")!, kind: .beginRecovery, deviceOnline: false, source: .uevent)
            )
        }
        let reopened = try AERJournal(path: path)
        #expect(try reopened.events(unhandledOnly: true).map(\.id) == [id])
        try reopened.record(
            [.init(eventID: id, time: 2, domain: "a", action: .destroy, reason: "r", latencyMilliseconds: 1)],
            handling: id)
        #expect(try reopened.events(unhandledOnly: true).isEmpty)
        #expect(try reopened.decisions().map(\.action) == [.destroy])
    }
}

@Suite("The watchdog's decisions")
struct WatchdogTests {
    static func make(policy: AERPolicy = AERPolicy(), running: [String: [PCIAddress]]) throws -> (
        Watchdog, RecordingGuests, String
    ) {
        let directory = try Tool.temporaryDirectory()
        let guests = RecordingGuests(running)
        let watchdog = Watchdog(journal: try AERJournal(path: directory + "/aer.db"), policy: policy, control: guests)
        watchdog.model = try SeedHost.model()
        return (watchdog, guests, directory)
    }

    static func event(_ device: String, _ kind: AEREvent.Kind, online: Bool? = nil, time: Double = 1) -> AEREvent {
        AEREvent(time: time, device: PCIAddress(device)!, kind: kind, deviceOnline: online, source: .injected)
    }

    @Test("BEGIN_RECOVERY takes down only the owner; SUCCESSFUL_RECOVERY brings it back after the back-off")
    func takeDownAndRestart() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (watchdog, guests, directory) = try Self.make(
            policy: policy, running: ["a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let down = try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(down.map(\.domain) == ["a"])
        try watchdog.handle(Self.event("0000:04:00.0", .successfulRecovery, online: true), arrival: wallClock())
        #expect(watchdog.hasPendingRestarts)
        watchdog.tick(now: wallClock() + 1)
        #expect(guests.calls == ["destroy a", "start a"])
        let actions = try watchdog.journal.decisions().map { "\($0.action) \($0.domain)" }
        #expect(actions == ["destroy a", "restart-scheduled a", "start a"])
    }

    @Test("FAILED_RECOVERY leaves the guest down, says why once, and a later recovery does not start it")
    func failedRecovery() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (watchdog, guests, directory) = try Self.make(
            policy: policy, running: ["a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        try watchdog.handle(Self.event("0000:04:00.0", .failedRecovery, online: false), arrival: wallClock())
        try watchdog.handle(Self.event("0000:04:00.0", .failedRecovery, online: false), arrival: wallClock())
        try watchdog.handle(Self.event("0000:04:00.0", .successfulRecovery, online: true), arrival: wallClock())
        watchdog.tick(now: wallClock() + 1)
        #expect(guests.calls == ["destroy a"])
        let decisions = try watchdog.journal.decisions()
        #expect(decisions.map { "\($0.action) \($0.domain)" } == ["destroy a", "stay-down a"])
        #expect(decisions.last?.reason.contains("FAILED_RECOVERY") == true)
    }

    @Test("an error on a switch port takes down the guests below it; a VF's PF error takes down the VF's guest")
    func owners() throws {
        let (watchdog, guests, directory) = try Self.make(running: [
            "a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!], "c": [],
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try watchdog.handle(Self.event("0000:03:04.0", .fatal), arrival: wallClock())
        #expect(guests.calls == ["destroy b"])
        #expect(try watchdog.owners(of: PCIAddress("00:03.0")!) == ["a"])
    }

    /// The port above 04:00.0 made a DPC port (trigger on ERR_FATAL), and the uevents the
    /// kernel sends after a containment there (drivers/pci/pcie/err.c, pcie_do_recovery with
    /// the port as bridge: BEGIN_RECOVERY for each function below it whose driver has
    /// error_detected, as vfio-pci does, SUCCESSFUL_RECOVERY from report_resume, or
    /// FAILED_RECOVERY on the port when reset or a vote fails). QEMU models no DPC, so the
    /// sequence is fed as the kernel documents it rather than produced by the lab.
    static func dpcWatchdog(policy: AERPolicy) throws -> (Watchdog, RecordingGuests, String, PCIAddress, [PCIAddress]) {
        let (watchdog, guests, directory) = try make(
            policy: policy, running: ["a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!]])
        let model = try #require(watchdog.model)
        let port = try #require(model.upstreamBridges(of: PCIAddress("04:00.0")!).first)
        var builder = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x3420, classCode: 0x060400, headerType: 1)
        builder.addExpress(type: port.portType ?? .rootPort)
        builder.addDPC(capability: 0x10bf, control: 0x0009)
        let dpc = try #require(DecodedConfig(ConfigSpace(builder.bytes)).dpc)
        watchdog.model = model.replacing(port.address.description) { $0.config.dpc = dpc }
        var below: [PCIAddress] = []
        var frontier = [port.address]
        while let next = frontier.popLast() {
            for child in model.children(of: next) {
                below.append(child.address)
                frontier.append(child.address)
            }
        }
        return (watchdog, guests, directory, port.address, below.sorted())
    }

    @Test("the recovery uevents after a DPC containment take down and restart only the guests below the port")
    func dpcContainment() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (watchdog, guests, directory, port, below) = try Self.dpcWatchdog(policy: policy)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(below.contains(PCIAddress("04:00.0")!) && !below.contains(PCIAddress("05:00.1")!))
        for device in below {
            try watchdog.handle(Self.event(device.description, .beginRecovery, online: false), arrival: wallClock())
        }
        for device in below {
            try watchdog.handle(Self.event(device.description, .successfulRecovery, online: true), arrival: wallClock())
        }
        watchdog.tick(now: wallClock() + 1)
        #expect(guests.calls == ["destroy a", "start a"])
        let first = try #require(try watchdog.journal.decisions().first)
        #expect(first.reason.contains("contained by DPC at \(port)"))
    }

    @Test("FAILED_RECOVERY on the DPC port after a containment leaves the guests below it down")
    func dpcFailedRecovery() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (watchdog, guests, directory, port, below) = try Self.dpcWatchdog(policy: policy)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for device in below {
            try watchdog.handle(Self.event(device.description, .beginRecovery, online: false), arrival: wallClock())
        }
        try watchdog.handle(Self.event(port.description, .failedRecovery, online: false), arrival: wallClock())
        watchdog.tick(now: wallClock() + 1)
        #expect(guests.calls == ["destroy a"])
        #expect(try watchdog.journal.decisions().map { "\($0.action) \($0.domain)" } == ["destroy a", "stay-down a"])
    }

    @Test("restarts stop at max-restarts-per-hour, and the reason is journaled")
    func restartLimit() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        policy.maxRestartsPerHour = 1
        let (watchdog, guests, directory) = try Self.make(policy: policy, running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for _ in 0..<2 {
            try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
            try watchdog.handle(Self.event("0000:04:00.0", .successfulRecovery, online: true), arrival: wallClock())
            watchdog.tick(now: wallClock() + 1)
        }
        #expect(guests.calls.filter { $0 == "start a" }.count == 1)
        #expect(
            try watchdog.journal.decisions().contains {
                $0.action == .stayDown && $0.reason.contains("max-restarts-per-hour 1")
            })
    }

    @Test("a correctable storm warns once per threshold, and nothing is lost from the journal")
    func storm() throws {
        var policy = AERPolicy()
        policy.correctableWarnPerMinute = 100
        let (watchdog, guests, directory) = try Self.make(policy: policy, running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for index in 0..<250 {
            try watchdog.handle(
                Self.event("0000:04:00.0", .correctable, time: 1 + Double(index) / 1000), arrival: wallClock())
        }
        #expect(guests.calls.isEmpty)
        #expect(try watchdog.journal.events().count == 250)
        #expect(try watchdog.journal.decisions().filter { $0.action == .warn }.count == 2)
    }

    @Test("after a crash between journal and action, the event is handled once on restart")
    func resume() throws {
        let (watchdog, guests, directory) = try Self.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The event reached the journal, then the daemon died before deciding.
        try watchdog.journal.append(Self.event("0000:04:00.0", .beginRecovery, online: false))
        try watchdog.resumeUnhandled(now: wallClock())
        try watchdog.resumeUnhandled(now: wallClock())
        #expect(guests.calls == ["destroy a"])
    }

    @Test("a restarted watchdog remembers whom it took down and starts them after the recovery")
    func restartRemembers() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (first, guests, directory) = try Self.make(
            policy: policy, running: ["a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try first.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        // A new daemon process: same journal, same libvirt, nothing in memory.
        let second = Watchdog(journal: try AERJournal(path: directory + "/aer.db"), policy: policy, control: guests)
        second.model = first.model
        try second.restoreState(now: wallClock())
        try second.resumeUnhandled(now: wallClock())
        try second.handle(Self.event("0000:04:00.0", .successfulRecovery, online: true), arrival: wallClock())
        second.tick(now: wallClock() + 1)
        #expect(guests.calls == ["destroy a", "start a"])
    }

    @Test("an unhandled take-down whose device recovered meanwhile is superseded, not acted on")
    func superseded() throws {
        let (watchdog, guests, directory) = try Self.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try watchdog.journal.append(Self.event("0000:04:00.0", .beginRecovery, online: false, time: 1))
        try watchdog.journal.append(Self.event("0000:04:00.0", .successfulRecovery, online: true, time: 2))
        try watchdog.resumeUnhandled(now: wallClock())
        #expect(guests.calls.isEmpty)
        #expect(try watchdog.journal.decisions().map(\.action) == [.superseded])
        #expect(try watchdog.journal.events(unhandledOnly: true).isEmpty)
    }

    @Test("libvirt away: the event stays unhandled and is acted on once libvirt is back")
    func libvirtAway() throws {
        let (watchdog, guests, directory) = try Self.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guests.unreachable = true
        #expect(throws: RecordingGuests.Unreachable.self) {
            try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        }
        #expect(try watchdog.journal.events(unhandledOnly: true).count == 1)
        watchdog.tick(now: wallClock())
        #expect(guests.calls.isEmpty)
        guests.unreachable = false
        watchdog.tick(now: wallClock() + 10)
        watchdog.tick(now: wallClock() + 20)
        #expect(guests.calls == ["destroy a"])
        #expect(try watchdog.journal.events(unhandledOnly: true).isEmpty)
    }

    @Test("a full journal is reported once and the owner is still taken down")
    func fullJournal() throws {
        let (watchdog, guests, directory) = try Self.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        watchdog.log = { lines.append($0) }
        try watchdog.journal.limitSize(pages: 8)
        var index = 0
        while lines.isEmpty, index < 10_000 {
            // Same device, rising times: each row lands at the end of the index, like the next one.
            try watchdog.handle(Self.event("0000:04:00.0", .correctable, time: Double(index)), arrival: wallClock())
            index += 1
        }
        #expect(lines.first?.contains("is full") == true)
        try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false, time: 1e9), arrival: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(lines.filter { $0.contains("is full") }.count == 1)
        #expect(lines.contains { $0.contains("not journaled): destroy a") }, "\(lines)")
    }

    @Test("a counter that moved with the kernel's recovery uevents is explained; one without them acts")
    func countersAndUevents() throws {
        var policy = AERPolicy()
        policy.restartBackoffSeconds = 0
        let (watchdog, guests, directory) = try Self.make(
            policy: policy, running: ["a": [PCIAddress("04:00.0")!], "b": [PCIAddress("05:00.1")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = wallClock()
        try watchdog.handle(Self.event("0000:04:00.0", .beginRecovery, online: false), arrival: now)
        try watchdog.handle(Self.event("0000:04:00.0", .successfulRecovery, online: true), arrival: now)
        watchdog.tick(now: now + 1)
        // The root port above counted the same fatal error: the uevents already handled it.
        let counted = AEREvent(time: now, device: PCIAddress("00:03.0")!, kind: .fatal, count: 1, source: .counter)
        #expect(try watchdog.handle(counted, arrival: now + 2).map(\.action) == [.explained])
        #expect(guests.calls == ["destroy a", "start a"])
        // A fatal counter on b's function with no uevent anywhere near it takes b down.
        let silent = AEREvent(time: now, device: PCIAddress("05:00.1")!, kind: .fatal, count: 1, source: .counter)
        #expect(try watchdog.handle(silent, arrival: now + 2).map(\.action) == [.destroy])
        #expect(guests.calls.last == "destroy b")
    }
}

@Suite("Decision actions and policy values keep the journal's and aerd.toml's spellings")
struct AERSpellingTests {
    @Test("every decision action round-trips through the journal's text; unknown text is kept as it is")
    func decisionActions() {
        #expect(
            DecisionAction.known.map(\.rawValue) == [
                "destroy", "shutdown", "restart-scheduled", "start", "stay-down", "warn", "failed", "superseded",
                "explained", "poisoned",
            ])
        for action in DecisionAction.known { #expect(DecisionAction(rawValue: action.rawValue) == action) }
        #expect(DecisionAction(rawValue: "reboot") == .unrecognized("reboot"))
        #expect(DecisionAction(rawValue: "reboot").rawValue == "reboot")
        #expect("\(DecisionAction.stayDown)" == "stay-down")
        #expect(DecisionAction(AERPolicy.Action.shutdown) == .shutdown)
    }

    @Test("aerd.toml values parse to the policy's enums; others are refused naming the key")
    func policyValues() throws {
        let policy = try AERPolicy.parse("action = \"shutdown\"\nnonfatal-counter = \"take-down\"\n", name: "aerd.toml")
        #expect(policy.action == .shutdown)
        #expect(policy.nonFatalCounter == .takeDown)
        #expect(AERPolicy.Action.allCases.map(\.rawValue) == ["destroy", "shutdown"])
        #expect(AERPolicy.NonFatalCounter.allCases.map(\.rawValue) == ["warn", "take-down"])
        #expect(throws: (any Error).self) { try AERPolicy.parse("action = \"reboot\"\n", name: "aerd.toml") }
    }
}
