import Foundation
import TestSupport
import Testing

/// vfio-aerd as a process: injected uevents in, journal out, read back with `vfioctl aer log`.
/// Guests come from libvirt's own test driver (`test:///default`, one running domain "test"),
/// a real libvirt driver that runs inside the daemon; the real libvirtd with TCG guests is
/// exercised in Tests/Libvirt/libvirt-test.sh.
@Suite("vfio-aerd and vfioctl aer from the command line", .serialized)
struct AERDaemonCLITests {
    final class Daemon {
        let process = Process()
        let directory: String
        var socket: String { directory + "/inject.sock" }
        var journal: String { directory + "/aer.db" }
        var standardError: String { (try? String(contentsOfFile: directory + "/aerd.err", encoding: .utf8)) ?? "" }

        init(policy: String, extra: [String] = [], environment: [String: String] = [:]) throws {
            directory = try Tool.temporaryDirectory()
            try Tool.seedTree(at: directory + "/host")
            try FileManager.default.createDirectory(
                atPath: directory + "/state/domains", withIntermediateDirectories: true)
            // What the libvirt hook writes when it prepares a guest with the seed's first 82576.
            try "device 0000:04:00.0\n".write(
                toFile: directory + "/state/domains/test", atomically: true, encoding: .utf8)
            try policy.write(toFile: directory + "/aerd.toml", atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: directory + "/aerd.err", contents: nil)
            process.executableURL = URL(fileURLWithPath: Tool.buildDirectory + "/vfio-aerd")
            process.arguments =
                [
                    "--no-udev", "--inject-socket", socket, "--libvirt", "test:///default", "--root",
                    directory + "/host",
                    "--state-dir", directory + "/state", "--journal", journal, "--policy", directory + "/aerd.toml",
                    "--poll-interval", "0.2",
                ] + extra
            process.standardError = FileHandle(forWritingAtPath: directory + "/aerd.err")
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            try process.run()
            try waitFor("watching")
        }

        func waitFor(_ text: String, seconds: Double = 20) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !standardError.contains(text) {
                guard Date() < deadline, process.isRunning else {
                    throw Tool.Failed(description: "vfio-aerd never said \"\(text)\"; it said: \(standardError)")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        func log() throws -> [[String: Any]] {
            let result = try Tool.vfioctl(["aer", "log", "--json", "--journal", journal])
            #expect(result.status == 0, "\(result.standardError)")
            return try #require(
                try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]])
        }

        /// Polls the journal until `done` holds for the log.
        func logWhen(seconds: Double = 20, _ done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(seconds)
            var entries = try log()
            while !done(entries), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
                entries = try log()
            }
            return entries
        }

        func stop() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
            return process.terminationStatus
        }
    }

    static func actions(_ entries: [[String: Any]]) -> [String] {
        entries.flatMap { entry in
            ((entry["decisions"] as? [[String: Any]]) ?? []).map { "\($0["action"] ?? "?") \($0["domain"] ?? "?")" }
        }
    }

    @Test("BEGIN_RECOVERY destroys the registered owner, SUCCESSFUL_RECOVERY starts it again; all journaled")
    func recoveryCycle() throws {
        let daemon = try Daemon(policy: "restart-backoff-seconds = 0\n")
        try Datagram.send(
            "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n", to: daemon.socket)
        try Datagram.send(
            "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=SUCCESSFUL_RECOVERY\nDEVICE_ONLINE=1\n", to: daemon.socket)
        let entries = try daemon.logWhen { Self.actions($0).contains("start test") }
        #expect(
            Self.actions(entries) == ["destroy test", "restart-scheduled test", "start test"], "\(daemon.standardError)"
        )
        #expect(entries.map { $0["kind"] as? String } == ["begin-recovery", "successful-recovery"])
        #expect(entries.allSatisfy { $0["handled"] as? Bool == true })
        #expect(daemon.stop() == 0)
    }

    @Test("an error on another device touches no guest; a malformed uevent is logged and the daemon goes on")
    func unrelatedAndMalformed() throws {
        let daemon = try Daemon(policy: "")
        try Datagram.send(
            "PCI_SLOT_NAME=0000:05:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n", to: daemon.socket)
        try Datagram.send("ERROR_EVENT=BEGIN_RECOVERY\n", to: daemon.socket)
        try Datagram.send(
            "PCI_SLOT_NAME=0000:05:00.0\nERROR_EVENT=SUCCESSFUL_RECOVERY\nDEVICE_ONLINE=1\n", to: daemon.socket)
        let entries = try daemon.logWhen { $0.count == 2 && $0.allSatisfy { $0["handled"] as? Bool == true } }
        #expect(entries.count == 2)
        #expect(Self.actions(entries).isEmpty)
        try daemon.waitFor("malformed uevent")
        #expect(daemon.stop() == 0)
    }

    @Test("SIGHUP with a broken policy keeps the old one and says where the file is wrong; a good one is used")
    func reload() throws {
        let daemon = try Daemon(policy: "action = \"destroy\"\n")
        try "action = \"explode\"\n".write(toFile: daemon.directory + "/aerd.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try daemon.waitFor("policy not reloaded")
        #expect(daemon.standardError.contains("aerd.toml:1"))
        try "action = \"shutdown\"\n".write(toFile: daemon.directory + "/aerd.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try daemon.waitFor("policy reloaded")
        // The reloaded policy is the one acted on: the owner is shut down, not destroyed.
        try Datagram.send(
            "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n", to: daemon.socket)
        let entries = try daemon.logWhen { Self.actions($0) == ["shutdown test"] }
        #expect(Self.actions(entries) == ["shutdown test"], "\(daemon.standardError)")
        #expect(daemon.stop() == 0)
    }

    @Test("--metrics-port serves Prometheus text on loopback that follows the events; aer stats sums the journal")
    func metrics() throws {
        let daemon = try Daemon(policy: "restart = false\n", extra: ["--metrics-port", "0"])
        try daemon.waitFor("metrics on http://127.0.0.1:")
        let port = try #require(
            daemon.standardError.split(separator: "\n").lazy.compactMap { line -> UInt16? in
                guard let range = line.range(of: "127.0.0.1:") else { return nil }
                return UInt16(line[range.upperBound...].prefix { $0.isNumber })
            }.first)
        #expect(try LoopbackHTTP.get(port: port).contains("vfio_aerd_guests_down 0"))
        try Datagram.send(
            "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n", to: daemon.socket)
        try Datagram.send("PCI_SLOT_NAME=0000:05:00.0\nAER_COUNTER=correctable\nCOUNT=12\n", to: daemon.socket)
        _ = try daemon.logWhen { $0.count == 2 && $0.allSatisfy { $0["handled"] as? Bool == true } }
        let page = try LoopbackHTTP.get(port: port)
        #expect(page.hasPrefix("HTTP/1.0 200 OK"))
        #expect(page.contains("vfio_aerd_events_total{kind=\"begin-recovery\",source=\"injected\"} 1"), "\(page)")
        #expect(page.contains("vfio_aerd_errors_total{kind=\"correctable\"} 12"))
        #expect(page.contains("vfio_aerd_decisions_total{action=\"destroy\"} 1"))
        #expect(page.contains("vfio_aerd_guests_down 1"))
        #expect(page.contains("vfio_aerd_last_take_down_latency_seconds "))
        // aer stats sums what the journal holds: a counter event adds every error it covers.
        let stats = try Tool.vfioctl(["aer", "stats", "--json", "--journal", daemon.journal])
        let totals = try #require(
            try JSONSerialization.jsonObject(with: Data(stats.standardOutput.utf8)) as? [String: Any])
        #expect(
            totals["errors"] as? [String: Int] == ["0000:04:00.0 begin-recovery": 1, "0000:05:00.0 correctable": 12])
        #expect(totals["decisions"] as? [String: Int] == ["destroy": 1])
        let text = try Tool.vfioctl(["aer", "stats", "--journal", daemon.journal]).standardOutput
        #expect(text == "0000:04:00.0 begin-recovery: 1\n0000:05:00.0 correctable: 12\ndecisions destroy: 1\n")
        #expect(daemon.stop() == 0)
    }

    @Test(
        "systemd's notify protocol: READY once listening, WATCHDOG pings, STOPPING on SIGTERM",
        arguments: ["path", "abstract"])
    func systemdNotify(socketKind: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // NOTIFY_SOCKET is a path or, with a leading @, an abstract socket name.
        let name = socketKind == "path" ? directory + "/notify" : "@vfioctl-notify-" + UUID().uuidString
        let systemd = try DatagramReceiver(path: name)
        // An abstract name leaves no file behind (here: none named "@…" in the working directory).
        #expect(socketKind == "path" || !FileManager.default.fileExists(atPath: name))
        // WATCHDOG_USEC 400 ms: systemd would expect a ping at least every 400 ms.
        let daemon = try Daemon(policy: "", environment: ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000"])
        let running = systemd.receive(seconds: 10) { $0.filter { $0 == "WATCHDOG=1" }.count >= 3 }
        #expect(running.first == "READY=1")
        #expect(running.filter { $0 == "WATCHDOG=1" }.count >= 3)
        daemon.process.terminate()
        let stopping = systemd.receive(seconds: 10) { $0.contains("STOPPING=1") }
        #expect(stopping.contains("STOPPING=1"))
        #expect(daemon.stop() == 0)
    }

    @Test("aer log on a journal that does not exist says so and creates nothing")
    func missingJournal() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["aer", "log", "--journal", directory + "/aer.db"])
        #expect(result.status != 0)
        #expect(result.standardError.contains(directory + "/aer.db"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/aer.db"))
    }
}
