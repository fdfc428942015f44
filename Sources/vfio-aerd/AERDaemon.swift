import AERWatch
import ArgumentParser
import Dispatch
import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// `vfio-aerd`: the AER watchdog. Journals every AER event (SQLite) before acting, takes down
/// only the guests that own the failing device, and starts them again after the host driver
/// recovered. systemd `Type=notify` with watchdog pings; SIGHUP reloads the policy.
@main
struct AERDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vfio-aerd",
        abstract: "Watch PCIe AER errors and stop and restart only the guests that own the failing device.",
        discussion: """
            Examples:
              vfio-aerd                                   # as systemd runs it
              vfio-aerd --policy /etc/vfioctl/aerd.toml --journal /var/lib/vfioctl/aer.db
              vfio-aerd --metrics-port 9464               # Prometheus scrapes 127.0.0.1:9464
              vfioctl aer log --since 3600                # what it saw and did
            """)

    @Option(help: "Policy file (TOML; reloaded on SIGHUP).") var policy: String = "/etc/vfioctl/aerd.toml"
    @Option(help: "SQLite journal.") var journal: String = "/var/lib/vfioctl/aer.db"
    @Option(help: "libvirt URI of the guests.") var libvirt: String = "qemu:///system"
    @Option(help: ArgumentHelp("Host root for topology and counters (default /).", valueName: "dir")) var root: String?
    @Option(name: .customLong("state-dir"), help: "Where the libvirt hook registers guests' devices.")
    var stateDirectory = "/run/vfioctl"
    @Option(help: "Seconds between counter polls.") var pollInterval: Double = 2
    @Flag(name: .customLong("no-udev"), help: "Do not listen to kernel uevents (counters and injected events only).")
    var noUdev = false
    @Option(
        name: .customLong("metrics-port"),
        help: ArgumentHelp("Serve Prometheus metrics on 127.0.0.1:PORT (0: any free port).", valueName: "port"))
    var metricsPort: UInt16?
    @Option(
        name: .customLong("inject-socket"),
        help: ArgumentHelp("Accept uevent text on this unix datagram socket (tests).", valueName: "path"))
    var injectSocket: String?

    func run() throws {
        // A write to libvirtd's socket after libvirtd went away raises SIGPIPE, whose default
        // action would kill the watchdog; as an error it is a reconnect.
        signal(SIGPIPE, SIG_IGN)
        let roots = root.map { HostRoots(path: $0) } ?? .live
        // systemd's StateDirectory= makes /var/lib/vfioctl; by hand, the daemon does.
        let journalDirectory = journal.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        if !journalDirectory.joined().isEmpty {
            try StateDirectory(path: journalDirectory.joined(separator: "/")).create()
        }
        let store = try AERJournal(path: journal)
        let guests = LibvirtGuests(uri: libvirt)
        let watchdog = Watchdog(journal: store, policy: try AERPolicy.load(path: policy), control: guests)
        watchdog.model = try? SysfsHostReader(roots: roots).read(source: "aerd")
        watchdog.registrations = StateDirectory(path: stateDirectory + "/domains")
        watchdog.log = { say($0) }
        let queue = DispatchQueue(label: "vfio-aerd")
        let daemon = DaemonState(watchdog: watchdog)
        // Connect now, so the first event does not pay for it; libvirtd may come later.
        do { _ = try guests.runningGuests() } catch {
            say("libvirt \(libvirt) not reachable yet (\(error)); will retry on the first event")
        }
        try queue.sync {
            try watchdog.restoreState(now: wallClock())
            try watchdog.resumeUnhandled(now: wallClock())
        }

        // Sources wait while their event is handled: memory stays bounded in a storm (the
        // kernel's netlink buffer, libudev sets it large, and the sender's socket absorb it).
        let deliver: @Sendable (AEREvent) -> Void = { event in
            let arrival = wallClock()
            queue.sync {
                do { try daemon.watchdog.handle(event, arrival: arrival) } catch {
                    say("event \(event.kind.rawValue) on \(event.device): \(error)")
                }
            }
        }
        let problem: @Sendable (String) -> Void = { say($0) }
        var sources: [any Sendable] = []
        if !noUdev {
            do {
                let monitor = try UdevAERMonitor()
                monitor.start(onEvent: deliver, onProblem: problem)
                sources.append(monitor)
            } catch {
                say("no kernel uevents: \(error); counters only")
            }
        }
        if let injectSocket {
            let injected = try InjectedEvents(path: injectSocket)
            injected.start(onEvent: deliver, onProblem: problem)
            sources.append(injected)
        }
        if let metricsPort {
            let server = try MetricsServer(port: metricsPort)
            server.start { queue.sync { daemon.watchdog.metrics.rendered() } }
            sources.append(server)
            say("metrics on http://127.0.0.1:\(server.port)/metrics")
        }
        let poller = CounterPoller(sys: roots.sys)
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(200))
        var nextPoll = 0.0
        timer.setEventHandler {
            let now = wallClock()
            daemon.watchdog.tick(now: now)
            if now >= nextPoll {
                nextPoll = now + pollInterval
                let (events, problems) = poller.poll(now: now)
                problems.forEach(say)
                for event in events {
                    do { try daemon.watchdog.handle(event, arrival: now) } catch {
                        say("counter event on \(event.device): \(error)")
                    }
                }
            }
            Notify.watchdogIfDue()
        }
        timer.resume()

        let policyPath = policy
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        reload.setEventHandler {
            do {
                daemon.watchdog.policy = try AERPolicy.load(path: policyPath)
                say("policy reloaded from \(policyPath)")
            } catch {
                say("policy not reloaded, keeping the old one: \(error)")
            }
        }
        let stop: @Sendable () -> Void = {
            Notify.send("STOPPING=1")
            say("stopping")
            Glibc.exit(0)
        }
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: queue)
        terminate.setEventHandler(handler: stop)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: queue)
        interrupt.setEventHandler(handler: stop)
        for (source, number) in [(reload, SIGHUP), (terminate, SIGTERM), (interrupt, SIGINT)] {
            signal(number, SIG_IGN)
            source.resume()
        }
        withExtendedLifetime((sources, reload, terminate, interrupt, timer)) {
            say("watching (journal \(journal), policy \(policy))")
            Notify.send("READY=1")
            dispatchMain()
        }
    }
}

/// The watchdog, touched only on the daemon's queue.
final class DaemonState: @unchecked Sendable {
    let watchdog: Watchdog
    init(watchdog: Watchdog) { self.watchdog = watchdog }
}

struct DaemonSetupError: Error, CustomStringConvertible {
    var description: String
}

func say(_ line: String) {
    let bytes = Array(("vfio-aerd: " + line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, bytes.count) }
}

/// systemd's notify protocol (sd_notify) without libsystemd: datagrams to $NOTIFY_SOCKET.
enum Notify {
    nonisolated(unsafe) private static var lastPing = 0.0

    static func send(_ message: String) {
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let payload = Array(message.utf8)
        _ = UnixSocketAddress(path: path).withSockaddr { address, length in
            payload.withUnsafeBytes { sendto(fd, $0.baseAddress, payload.count, 0, address, length) }
        }
    }

    /// WATCHDOG=1 every half of $WATCHDOG_USEC.
    static func watchdogIfDue() {
        guard let text = getenv("WATCHDOG_USEC").map({ String(cString: $0) }), let usec = Double(text) else { return }
        let now = wallClock()
        if now - lastPing >= usec / 2e6 {
            lastPing = now
            send("WATCHDOG=1")
        }
    }
}
