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

        /// Starts vfio-aerd on a fresh directory, or again on the one of an earlier run
        /// (`reusing`: its journal, policy and tree). `prepare` runs just before the start;
        /// without `waitForStart` the caller watches the start-up itself.
        init(
            policy: String, extra: [String] = [], environment: [String: String] = [:], reusing: String? = nil,
            waitForStart: Bool = true, prepare: (String) throws -> Void = { _ in }
        ) throws {
            if let reusing {
                directory = reusing
            } else {
                directory = try Tool.temporaryDirectory()
                try Tool.seedTree(at: directory + "/host")
                try FileManager.default.createDirectory(
                    atPath: directory + "/state/domains", withIntermediateDirectories: true)
                // What the libvirt hook writes when it prepares a guest with the seed's first 82576.
                try "device 0000:04:00.0\n".write(
                    toFile: directory + "/state/domains/test", atomically: true, encoding: .utf8)
                try policy.write(toFile: directory + "/aerd.toml", atomically: true, encoding: .utf8)
            }
            try prepare(directory)
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
            if waitForStart { try waitFor("watching") }
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

        // A test that failed half-way must not leave a daemon behind.
        deinit { if process.isRunning { process.terminate() } }

        /// SIGTERM, then the exit status; the directory goes unless `keeping` it for another run.
        func stop(keeping: Bool = false) -> Int32 {
            process.terminate()
            process.waitUntilExit()
            if !keeping { try? FileManager.default.removeItem(atPath: directory) }
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
        let first = try LoopbackHTTP.get(port: port)
        #expect(first.contains("vfioctl_aerd_guests_down 0"))
        // Every counter series is there, at 0, before the first event: increase() sees the first one.
        #expect(first.contains("vfioctl_aerd_events_total{kind=\"fatal\",source=\"uevent\"} 0"), "\(first)")
        #expect(first.contains("vfioctl_aerd_errors_total{kind=\"fatal\"} 0"))
        #expect(first.contains("vfioctl_aerd_decisions_total{action=\"destroy\"} 0"))
        try Datagram.send(
            "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n", to: daemon.socket)
        try Datagram.send("PCI_SLOT_NAME=0000:05:00.0\nAER_COUNTER=correctable\nCOUNT=12\n", to: daemon.socket)
        _ = try daemon.logWhen { $0.count == 2 && $0.allSatisfy { $0["handled"] as? Bool == true } }
        let page = try LoopbackHTTP.get(port: port)
        #expect(page.hasPrefix("HTTP/1.0 200 OK"))
        #expect(page.contains("vfioctl_aerd_events_total{kind=\"begin-recovery\",source=\"injected\"} 1"), "\(page)")
        #expect(page.contains("vfioctl_aerd_errors_total{kind=\"correctable\"} 12"))
        #expect(page.contains("vfioctl_aerd_decisions_total{action=\"destroy\"} 1"))
        #expect(page.contains("vfioctl_aerd_guests_down 1"))
        #expect(page.contains("vfioctl_aerd_last_take_down_latency_seconds "))
        // Prometheus' own checker accepts the body: names, types, units, `_total` on counters.
        let body = try #require(page.range(of: "\r\n\r\n").map { String(page[$0.upperBound...]) })
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body.write(toFile: directory + "/aerd.prom", atomically: true, encoding: .utf8)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            throw Tool.Failed(description: "promtool is not installed: run `make deps` (Debian's prometheus package)")
        }
        let check = try Tool.run(
            "/bin/sh", ["-c", "/usr/bin/promtool check metrics < \"$0\" 2>&1", directory + "/aerd.prom"])
        #expect(check.status == 0 && check.standardOutput.isEmpty, "promtool: \(check.standardOutput)")
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

// MARK: - A daemon an administrator can trust

extension AERDaemonCLITests {
    /// Runs SQL on a journal with the sqlite3 shell: rows vfio-aerd itself would never write.
    static func sql(_ journal: String, _ statement: String) throws -> String {
        let result = try Tool.run("/usr/bin/sqlite3", [journal, statement])
        guard result.status == 0 else { throw Tool.Failed(description: "sqlite3: \(result.standardError)") }
        return result.standardOutput
    }

    static let beginRecovery = "PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n"

    @Test("a journaled event with a huge count, or one that was being handled, is poisoned, not a crash loop")
    func poisonedEventsAcrossRestarts() throws {
        let first = try Daemon(policy: "")
        #expect(first.stop(keeping: true) == 0)
        let directory = first.directory
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // COUNT=100000000000 as the old parser took it, never handled; and a take-down for the
        // guest's device that a daemon was handling when it died.
        _ = try Self.sql(
            first.journal,
            """
            INSERT INTO events(time, device, kind, online, count, source, handled)
              VALUES(1, '0000:04:00.0', 'correctable', NULL, 100000000000, 'injected', 0);
            INSERT INTO events(time, device, kind, online, count, source, handled)
              VALUES(2, '0000:04:00.0', 'begin-recovery', 0, 1, 'uevent', 3);
            """)
        for run in 1...2 {
            let daemon = try Daemon(policy: "", reusing: directory)
            let entries = try daemon.log()
            #expect(entries.count == 2)
            #expect(entries.allSatisfy { $0["handled"] as? Bool == true }, "run \(run): \(entries)")
            // Poisoned once, on the first restart, and not again; the guest was not touched.
            #expect(Self.actions(entries) == ["poisoned -", "poisoned -"], "run \(run): \(daemon.standardError)")
            let reasons = entries.flatMap { ($0["decisions"] as? [[String: Any]]) ?? [] }.map {
                "\($0["reason"] ?? "")"
            }
            #expect(reasons.first?.contains("AERLimits.maxEventCount") == true, "\(reasons)")
            #expect(reasons.last?.contains("stopped before its handling was recorded") == true, "\(reasons)")
            #expect(daemon.standardError.contains("poisoned") == (run == 1), "run \(run): \(daemon.standardError)")
            #expect(daemon.process.isRunning)
            if run == 2 {
                // Still protecting: a new take-down is acted on.
                try Datagram.send(Self.beginRecovery, to: daemon.socket)
                let after = try daemon.logWhen { Self.actions($0).contains("destroy test") }
                #expect(Self.actions(after) == ["poisoned -", "poisoned -", "destroy test"], "\(daemon.standardError)")
            }
            #expect(daemon.stop(keeping: true) == 0)
        }
    }

    @Test("libvirt unreachable at start-up with an event to resume: the daemon starts, the event waits")
    func libvirtAwayAtStart() throws {
        let first = try Daemon(policy: "")
        #expect(first.stop(keeping: true) == 0)
        let directory = first.directory
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try Self.sql(
            first.journal,
            """
            INSERT INTO events(time, device, kind, online, count, source, handled)
              VALUES(1, '0000:04:00.0', 'begin-recovery', 0, 1, 'uevent', 0);
            """)
        // The test driver cannot open a file that is not there: as if libvirtd were down.
        let daemon = try Daemon(
            policy: "", extra: ["--libvirt", "test://" + directory + "/no-such-libvirt.xml"], reusing: directory)
        #expect(daemon.standardError.contains("events still unhandled"), "\(daemon.standardError)")
        let entries = try daemon.log()
        #expect(entries.map { $0["handled"] as? Bool } == [false])
        #expect(Self.actions(entries).isEmpty)
        #expect(daemon.process.isRunning)
        #expect(daemon.stop(keeping: true) == 0)
    }

    @Test(
        "a journal that is garbage or a directory is moved aside, kept, and a fresh one protects the host",
        arguments: ["garbage", "directory"])
    func corruptJournalAtStart(kind: String) throws {
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        let daemon = try Daemon(policy: "") { directory in
            if kind == "garbage" {
                try garbage.write(to: URL(fileURLWithPath: directory + "/aer.db"))
            } else {
                try FileManager.default.createDirectory(
                    atPath: directory + "/aer.db", withIntermediateDirectories: false)
                try "keep me\n".write(toFile: directory + "/aer.db/note", atomically: true, encoding: .utf8)
            }
        }
        let aside = try FileManager.default.contentsOfDirectory(atPath: daemon.directory).filter {
            $0.hasPrefix("aer.db.corrupt-")
        }
        #expect(aside.count == 1, "\(daemon.standardError)")
        let name = try #require(aside.first)
        #expect(daemon.standardError.contains(daemon.directory + "/" + name))
        if kind == "garbage" {
            #expect(FileManager.default.contents(atPath: daemon.directory + "/" + name) == garbage)
        } else {
            #expect(
                (try? String(contentsOfFile: daemon.directory + "/" + name + "/note", encoding: .utf8)) == "keep me\n")
        }
        try Datagram.send(Self.beginRecovery, to: daemon.socket)
        let entries = try daemon.logWhen { Self.actions($0) == ["destroy test"] }
        #expect(Self.actions(entries) == ["destroy test"], "\(daemon.standardError)")
        #expect(daemon.stop() == 0)
    }

    @Test(
        "SIGHUP with a missing, oversized or non-file policy keeps the old policy and says why",
        arguments: ["missing", "oversized", "directory"])
    func reloadKeepsPolicy(kind: String) throws {
        let daemon = try Daemon(policy: "action = \"shutdown\"\n")
        let path = daemon.directory + "/aerd.toml"
        try FileManager.default.removeItem(atPath: path)
        switch kind {
        case "oversized":
            // Valid TOML that would turn the action back to destroy, padded past 64 KiB.
            let padding = String(repeating: "# padding padding padding padding padding padding padding\n", count: 1200)
            try (padding + "action = \"destroy\"\n").write(toFile: path, atomically: true, encoding: .utf8)
        case "directory": try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        default: break
        }
        kill(daemon.process.processIdentifier, SIGHUP)
        try daemon.waitFor("policy not reloaded")
        let reason =
            ["missing": "does not exist", "oversized": "65536", "directory": "not a regular file"][kind] ?? "?"
        #expect(daemon.standardError.contains(path) && daemon.standardError.contains(reason), "\(daemon.standardError)")
        try Datagram.send(Self.beginRecovery, to: daemon.socket)
        let entries = try daemon.logWhen { !Self.actions($0).isEmpty }
        #expect(Self.actions(entries) == ["shutdown test"], "\(daemon.standardError)")
        #expect(daemon.stop() == 0)
    }

    /// Starts vfio-aerd as systemd would: SIGHUP, SIGTERM and SIGINT unblocked and at their
    /// default action. (A child of the test runner inherits its blocked signals, which hides
    /// a SIGHUP that would kill.) Standard error goes to `standardError`.
    static func spawnAsService(_ arguments: [String], standardError: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let executable = Tool.buildDirectory + "/vfio-aerd"
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else { throw Tool.Failed(description: "posix_spawn \(executable): \(status)") }
        return pid
    }

    @Test("SIGHUPs all through start-up (journal, libvirt, host model) do not kill the daemon")
    func sighupDuringStartUp() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Tool.seedTree(at: directory + "/host")
        try "action = \"shutdown\"\n".write(toFile: directory + "/aerd.toml", atomically: true, encoding: .utf8)
        let journal = directory + "/aer.db"
        let log = directory + "/aerd.err"
        let pid = try Self.spawnAsService(
            [
                "--no-udev", "--libvirt", "test:///default", "--root", directory + "/host", "--state-dir",
                directory + "/state", "--journal", journal, "--policy", directory + "/aerd.toml",
            ], standardError: log)
        func said(_ text: String) -> Bool {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains(text)
        }
        var status: Int32 = 0
        func exited() -> Bool { waitpid(pid, &status, WNOHANG) == pid }
        // The journal exists once start-up is under way; from then on, SIGHUP every millisecond.
        var sent = 0
        var gone = false
        let deadline = Date().addingTimeInterval(20)
        while !said("watching"), Date() < deadline {
            if exited() {
                gone = true
                break
            }
            if FileManager.default.fileExists(atPath: journal) {
                kill(pid, SIGHUP)
                sent += 1
            }
            usleep(1000)
        }
        #expect(sent > 0)
        #expect(!gone, "exit status \(status): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        guard !gone else { return }
        #expect(said("watching"))
        // Still reloading, and stopping cleanly, after all that.
        kill(pid, SIGHUP)
        let reloadDeadline = Date().addingTimeInterval(10)
        while !said("policy reloaded"), Date() < reloadDeadline { usleep(10_000) }
        #expect(said("policy reloaded"))
        kill(pid, SIGTERM)
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status == 0, "wait status \(status)")
    }

    @Test(
        "--inject-socket refuses a path that is not a socket, a socket in use, or a path sun_path cannot hold, and deletes nothing",
        arguments: ["file", "listening", "too long"])
    func injectSocketRefusals(kind: String) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var path = directory + "/inject.sock"
        var receiver: DatagramReceiver?
        switch kind {
        case "file":
            try "precious\n".write(toFile: path, atomically: true, encoding: .utf8)
        case "listening":
            receiver = try DatagramReceiver(path: path)
        default:
            // Cut at sun_path's 107 bytes, this path would name a socket in `directory`
            // itself: the daemon must refuse it, not bind there.
            let long = directory + "/" + String(repeating: "d", count: 120)
            try FileManager.default.createDirectory(atPath: long, withIntermediateDirectories: true)
            path = long + "/inject.sock"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Tool.buildDirectory + "/vfio-aerd")
        process.arguments = [
            "--no-udev", "--inject-socket", path, "--libvirt", "test:///default", "--journal", directory + "/aer.db",
            "--policy", directory + "/aerd.toml",
        ]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // A daemon that took the path over would run on: give it 10 s to refuse.
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let refused = !process.isRunning
        if !refused { process.terminate() }
        process.waitUntilExit()
        let standardError = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(refused && process.terminationStatus != 0, "\(standardError)")
        #expect(standardError.contains(path))
        let reason = ["file": "not a socket", "listening": "another vfio-aerd?", "too long": "at most 107 (sun_path)"]
        #expect(standardError.contains(reason[kind]!), "\(standardError)")
        // Refused before the journal was touched.
        #expect(!FileManager.default.fileExists(atPath: directory + "/aer.db"))
        if kind == "too long" {
            let left = try FileManager.default.contentsOfDirectory(atPath: directory)
            #expect(left == [String(repeating: "d", count: 120)], "bound a cut path? \(left)")
        } else if let receiver {
            // The socket still belongs to its owner: what is sent to it arrives.
            try Datagram.send("hello", to: path)
            #expect(receiver.receive(seconds: 5) { !$0.isEmpty } == ["hello"])
        } else {
            #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "precious\n")
        }
    }
}
