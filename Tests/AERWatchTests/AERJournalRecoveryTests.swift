import AEREvents
import AERJournal
import AERSources
import AERWatch
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// A journal that cannot be trusted (corrupt at start, corrupted, deleted or replaced while
/// running) never costs protection or events; events that failed or stopped the daemon are
/// poisoned, not replayed.
@Suite("A journal that cannot be trusted, and poisoned events")
struct AERJournalRecoveryTests {
    /// Runs SQL with the sqlite3 shell: files and rows vfio-aerd itself would never write.
    static func sql(_ path: String, _ statement: String) throws {
        let result = try Tool.run("/usr/bin/sqlite3", [path, statement])
        guard result.status == 0 else { throw Tool.Failed(description: "sqlite3: \(result.standardError)") }
    }

    static func asideFiles(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("aer.db.corrupt-") }
            .sorted()
    }

    static let begin = AEREvent(
        time: 1, device: PCIAddress("04:00.0")!, kind: .beginRecovery, deviceOnline: false, source: .uevent)

    @Test(
        "an unusable journal is moved aside with its name logged and kept, and a fresh one started",
        arguments: ["garbage", "truncated", "schema", "directory"])
    func unusableAtStart(kind: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/aer.db"
        switch kind {
        case "garbage":
            try Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(
                to: URL(fileURLWithPath: path))
        case "truncated":
            do {
                let journal = try AERJournal(path: path)
                for index in 0..<2000 {
                    var event = Self.begin
                    event.time = Double(index)
                    try journal.append(event)
                }
            }
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.truncate(atOffset: UInt64(size / 2))
            try handle.close()
        case "schema":
            try Self.sql(
                path, "CREATE TABLE events(id INTEGER PRIMARY KEY, note TEXT); INSERT INTO events VALUES(1,'x')")
        default:
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        let before = FileManager.default.contents(atPath: path)
        // Today's vfio-aerd refuses to start on this.
        #expect(throws: AERJournal.Error.self) { try AERJournal(path: path) }
        var lines: [String] = []
        let journal = try AERJournal.openForDaemon(path: path, now: 1_764_489_600, log: { lines.append($0) })
        #expect(!journal.inMemory, "\(lines)")
        #expect(try Self.asideFiles(in: directory).first == "aer.db.corrupt-20251130T080000Z")
        #expect(lines.contains { $0.contains(path + ".corrupt-20251130T080000Z") }, "\(lines)")
        // Kept as it was.
        #expect(FileManager.default.contents(atPath: path + ".corrupt-20251130T080000Z") == before)
        let id = try journal.append(Self.begin)
        #expect(try AERJournal(path: path, readOnly: true).events().map(\.id) == [id])
        // A second unusable journal on the same second does not overwrite the first one kept.
        journal.close()
        try Data("not a journal".utf8).write(to: URL(fileURLWithPath: path))
        _ = try AERJournal.openForDaemon(path: path, now: 1_764_489_600, log: { _ in })
        #expect(
            try Self.asideFiles(in: directory) == [
                "aer.db.corrupt-20251130T080000Z", "aer.db.corrupt-20251130T080000Z-2",
            ])
    }

    @Test("no journal can be had at the path at all: one in memory keeps the daemon protecting, and says so")
    func noJournalPossible() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "a file, not a directory\n".write(toFile: directory + "/state", atomically: true, encoding: .utf8)
        let path = directory + "/state/aer.db"
        var lines: [String] = []
        let journal = try AERJournal.openForDaemon(path: path, now: 1, log: { lines.append($0) })
        #expect(journal.inMemory)
        #expect(lines.count == 1 && lines[0].contains(path) && lines[0].contains("in memory"), "\(lines)")
        let id = try journal.append(Self.begin)
        #expect(try journal.events().map(\.id) == [id])
        // Nothing was moved: the file in the way is not a journal that went bad.
        #expect(try String(contentsOfFile: directory + "/state", encoding: .utf8) == "a file, not a directory\n")
    }

    @Test(
        "a journal replaced or deleted while running: the next event goes into a new journal, the replacement is kept")
    func replacedWhileRunning() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        watchdog.log = { lines.append($0) }
        let path = directory + "/aer.db"
        try watchdog.handle(WatchdogTests.event("0000:04:00.0", .correctable), arrival: wallClock())
        // Something renames garbage over the journal (as `mv` or an editor's save would).
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: directory + "/other"))
        #expect(rename(directory + "/other", path) == 0)
        try watchdog.handle(WatchdogTests.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(lines.contains { $0.contains("deleted or replaced") }, "\(lines)")
        let reopened = try AERJournal(path: path, readOnly: true)
        #expect(try reopened.events().map(\.event.kind) == [.beginRecovery], "\(lines)")
        #expect(try reopened.decisions().map(\.action) == [.destroy])
        let aside = try #require(try Self.asideFiles(in: directory).first)
        #expect(FileManager.default.contents(atPath: directory + "/" + aside) == Data(repeating: 0x5a, count: 4096))
        // Deleted outright: the same.
        try FileManager.default.removeItem(atPath: path)
        try watchdog.handle(WatchdogTests.event("0000:04:00.0", .correctable, time: 2), arrival: wallClock())
        #expect(try AERJournal(path: path, readOnly: true).events().map(\.event.kind) == [.correctable])
    }

    @Test("a journal scribbled over while open: the corruption found on the next write loses no event")
    func corruptedWhileRunning() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        watchdog.log = { lines.append($0) }
        let path = directory + "/aer.db"
        // A small cache: SQLite reads the file again rather than trusting pages it holds.
        try watchdog.journal.limitCache(kibibytes: 1)
        for index in 0..<50 {
            try watchdog.handle(
                WatchdogTests.event("0000:05:00.0", .correctable, time: Double(index)), arrival: wallClock())
        }
        // Into the file itself, not only the write-ahead log.
        try watchdog.journal.checkpoint()
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.write(contentsOf: Data(repeating: 0xa5, count: 8192))
        try handle.close()
        try watchdog.handle(WatchdogTests.event("0000:04:00.0", .beginRecovery, online: false), arrival: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(lines.contains { $0.contains("kept as " + path + ".corrupt-") }, "\(lines)")
        let reopened = try AERJournal(path: path, readOnly: true)
        #expect(try reopened.events().map(\.event.kind) == [.beginRecovery])
        #expect(try reopened.decisions().map(\.action) == [.destroy])
    }

    @Test("an event being handled when the daemon stopped is poisoned on restart, not replayed")
    func inProgressAtRestart() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines: [String] = []
        watchdog.log = { lines.append($0) }
        let id = try watchdog.journal.append(Self.begin, state: .inProgress)
        try watchdog.resumeUnhandled(now: wallClock())
        try watchdog.resumeUnhandled(now: wallClock())
        #expect(guests.calls.isEmpty)
        let entry = try #require(try watchdog.journal.events().first)
        #expect(entry.id == id && entry.state == .poisoned && entry.handled)
        let decisions = try watchdog.journal.decisions()
        #expect(decisions.map(\.action) == [.poisoned])
        #expect(decisions.first?.reason.contains("stopped before its handling was recorded") == true)
        #expect(lines.filter { $0.contains("poisoned") }.count == 1)
    }

    @Test("journal rows that are not valid events are poisoned, not skipped forever")
    func invalidRows() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.sql(
            directory + "/aer.db",
            """
            INSERT INTO events(time, device, kind, online, count, source, handled) VALUES
              (1, '0000:04:00.0', 'exploded', NULL, 1, 'uevent', 0),
              (2, '0000:04:00.0', 'correctable', NULL, 100000000000, 'injected', 0),
              (3, '0000:04:00.0', 'correctable', NULL, -4, 'injected', 0),
              (4, '0000:04:00.0', 'begin-recovery', 0, 1, 'uevent', 0);
            """)
        try watchdog.resumeUnhandled(now: wallClock())
        #expect(guests.calls == ["destroy a"])
        #expect(try watchdog.journal.decisions().map(\.action) == [.poisoned, .poisoned, .poisoned, .destroy])
        #expect(try watchdog.journal.unfinished().isEmpty)
    }

    @Test("libvirt away at start-up: the pending event waits (not poisoned) and is acted on once libvirt is back")
    func libvirtAwayAtStart() throws {
        let (watchdog, guests, directory) = try WatchdogTests.make(running: ["a": [PCIAddress("04:00.0")!]])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try watchdog.journal.append(Self.begin)
        guests.unreachable = true
        #expect(throws: RecordingGuests.Unreachable.self) { try watchdog.resumeUnhandled(now: wallClock()) }
        #expect(try watchdog.journal.unfinished().map(\.state) == [.pending])
        guests.unreachable = false
        watchdog.tick(now: wallClock() + 10)
        #expect(guests.calls == ["destroy a"])
        #expect(try watchdog.journal.events().map(\.state) == [.handled])
    }
}

/// `--inject-socket` replaces only a stale socket.
@Suite("The injected-event socket")
struct InjectSocketTests {
    @Test(
        "anything at the path that is not a socket is refused and left alone",
        arguments: ["file", "directory", "symlink"])
    func notASocket(kind: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/inject.sock"
        try "precious\n".write(toFile: directory + "/target", atomically: true, encoding: .utf8)
        switch kind {
        case "file": try "precious\n".write(toFile: path, atomically: true, encoding: .utf8)
        case "directory": try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        default: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: directory + "/target")
        }
        #expect { try InjectedEvents(path: path) } throws: {
            "\($0)".contains(path) && "\($0)".contains("not a socket")
        }
        switch kind {
        case "file": #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "precious\n")
        case "directory":
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
        default:
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path) == directory + "/target")
            #expect((try? String(contentsOfFile: directory + "/target", encoding: .utf8)) == "precious\n")
        }
    }

    @Test("a socket someone is bound to is refused (another vfio-aerd?) and keeps working for its owner")
    func inUse() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/inject.sock"
        let owner = try DatagramReceiver(path: path)
        #expect { try InjectedEvents(path: path) } throws: { "\($0)".contains("another vfio-aerd?") }
        try Datagram.send("still mine", to: path)
        #expect(owner.receive(seconds: 5) { !$0.isEmpty } == ["still mine"])
    }

    @Test("a stale socket (its owner gone) is replaced, and events arrive; an oversized message is rejected whole")
    func stale() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/inject.sock"
        do { _ = try DatagramReceiver(path: path) }  // closed, its file left behind
        #expect(FileManager.default.fileExists(atPath: path))
        let injected = try InjectedEvents(path: path)
        let received = Received()
        injected.start(onEvent: { received.add("\($0.kind.rawValue) \($0.count)") }, onProblem: { received.add($0) })
        defer { injected.stop() }
        // 5,000 bytes: read cut at 4,096 it would be COUNT=1 with the rest lost.
        let long = "PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=1" + String(repeating: "0", count: 4900)
        try Datagram.send(long, to: path)
        try Datagram.send("PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=3\n", to: path)
        let lines = received.wait(count: 2)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\(long.utf8.count) bytes rejected") == true, "\(lines)")
        #expect(lines.last == "correctable 3")
    }
}

/// Lines from the receiving thread, for the test to wait on.
final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func add(_ line: String) { lock.withLock { lines.append(line) } }

    func wait(count: Int, seconds: Double = 10) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        while lock.withLock({ lines.count }) < count, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return lock.withLock { lines }
    }
}
