import AEREvents
import AERJournal
import AERSources
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

    /// Ignores SIGHUP before the arguments are even parsed: a reload that comes before the
    /// handler exists must not kill the daemon (its default action). `run()` installs the
    /// handler first thing.
    static func main() {
        signal(SIGHUP, SIG_IGN)
        main(nil)
    }

    func run() throws {
        // A write to libvirtd's socket after libvirtd went away raises SIGPIPE, whose default
        // action would kill the watchdog; as an error it is a reconnect.
        signal(SIGPIPE, SIG_IGN)
        let queue = DispatchQueue(label: "vfio-aerd")
        let daemon = DaemonState()
        // Signals first, before anything that can take time: a SIGHUP (systemctl reload) or
        // SIGTERM during start-up must not meet the default action, which kills the daemon.
        let signals = installSignalHandlers(queue: queue, daemon: daemon)
        let roots = root.map { HostRoots(path: $0) } ?? .live
        // Before the journal: a second daemon must not touch the first one's journal.
        let injected = try injectSocket.map { try InjectedEvents(path: $0) }
        // systemd's StateDirectory= makes /var/lib/vfioctl; by hand, the daemon does.
        let journalDirectory = journal.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        if !journalDirectory.joined().isEmpty {
            try StateDirectory(path: journalDirectory.joined(separator: "/")).create()
        }
        // A corrupt journal is moved aside and a fresh one started: the host stays protected.
        let store = try AERJournal.openForDaemon(path: journal, now: wallClock(), log: say)
        let guests = LibvirtGuests(uri: libvirt)
        let model = try? SysfsHostReader(roots: roots).read(source: "aerd")
        // Connect now, so the first event does not pay for it; libvirtd may come later.
        do { _ = try guests.runningGuests() } catch {
            say("libvirt \(libvirt) not reachable yet (\(error)); will retry on the first event")
        }
        let policyPath = policy
        let registrations = StateDirectory(path: stateDirectory + "/domains")
        queue.sync {
            // Read here, on the queue: a SIGHUP before this point finds no watchdog and this
            // read sees the file as it is now.
            let policy: AERPolicy
            do {
                policy = try AERPolicy.read(path: policyPath) ?? AERPolicy()
            } catch {
                say("policy \(policyPath) not usable (\(error)); using the built-in defaults until a reload")
                policy = AERPolicy()
            }
            let watchdog = Watchdog(journal: store, policy: policy, control: guests)
            watchdog.model = model
            watchdog.registrations = registrations
            watchdog.log = { say($0) }
            daemon.watchdog = watchdog
            do { try watchdog.restoreState(now: wallClock()) } catch {
                say("cannot restore what the watchdog had done from the journal: \(error)")
            }
            do { try watchdog.resumeUnhandled(now: wallClock()) } catch {
                say("events still unhandled: \(error); tried again every 5 s")
            }
        }

        // Sources wait while their event is handled: memory stays bounded in a storm (the
        // kernel's netlink buffer, libudev sets it large, and the sender's socket absorb it).
        let deliver: @Sendable (AEREvent) -> Void = { event in
            let arrival = wallClock()
            queue.sync {
                do { try daemon.watchdog?.handle(event, arrival: arrival) } catch {
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
        if let injected {
            injected.start(onEvent: deliver, onProblem: problem)
            sources.append(injected)
        }
        if let metricsPort {
            let server = try MetricsServer(port: metricsPort)
            server.start { queue.sync { daemon.watchdog?.metrics.rendered() ?? "" } }
            sources.append(server)
            say("metrics on http://127.0.0.1:\(server.port)/metrics")
        }
        let poller = CounterPoller(sys: roots.sys)
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: .milliseconds(200))
        var nextPoll = 0.0
        timer.setEventHandler {
            guard let watchdog = daemon.watchdog else { return }
            let now = wallClock()
            watchdog.tick(now: now)
            if now >= nextPoll {
                nextPoll = now + pollInterval
                let (events, problems) = poller.poll(now: now)
                problems.forEach(say)
                for event in events {
                    do { try watchdog.handle(event, arrival: now) } catch {
                        say("counter event on \(event.device): \(error)")
                    }
                }
            }
            Notify.watchdogIfDue()
        }
        // READY=1 before the timer's first WATCHDOG=1: the timer runs on its own queue, and
        // systemd (and the notify test) read readiness first.
        say("watching (journal \(journal), policy \(policy)); running guests: \(guests.summary())")
        Notify.send("READY=1")
        timer.resume()

        withExtendedLifetime((sources, signals, timer)) {
            dispatchMain()
        }
    }

    /// SIGHUP reloads the policy (a broken or missing file keeps the old one, and says why);
    /// SIGTERM and SIGINT stop. All on the daemon's queue, so never in the middle of an event.
    private func installSignalHandlers(queue: DispatchQueue, daemon: DaemonState) -> [any DispatchSourceSignal] {
        let policyPath = policy
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        reload.setEventHandler {
            guard let watchdog = daemon.watchdog else {
                say("SIGHUP during start-up: the policy is read as start-up finishes")
                return
            }
            do {
                guard let policy = try AERPolicy.read(path: policyPath) else {
                    say("policy not reloaded, keeping the old one: \(policyPath) does not exist")
                    return
                }
                watchdog.policy = policy
                say("policy reloaded from \(policyPath)")
            } catch {
                say("policy not reloaded, keeping the old one: \(error)")
            }
        }
        let stop: @Sendable () -> Void = {
            Notify.send("STOPPING=1")
            let guests =
                (daemon.watchdog?.control as? LibvirtGuests).map { "; running guests: \($0.summary(reconnect: false))" }
                ?? ""
            say("stopping\(guests)")
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
        return [reload, terminate, interrupt]
    }
}

/// The watchdog, touched only on the daemon's queue; nil until start-up has made it.
final class DaemonState: @unchecked Sendable {
    var watchdog: Watchdog?
}

struct DaemonSetupError: Error, CustomStringConvertible {
    var description: String
}

func say(_ line: String) {
    StandardError.write("vfio-aerd: " + line + "\n")
}

/// systemd's notify protocol (sd_notify) without libsystemd: datagrams to $NOTIFY_SOCKET.
enum Notify {
    nonisolated(unsafe) private static var lastPing = 0.0

    static func send(_ message: String) {
        guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty,
            let address = UnixSocketAddress(path: path)
        else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let payload = Array(message.utf8)
        _ = address.withSockaddr { address, length in
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
