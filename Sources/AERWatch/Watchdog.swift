import AEREvents
import AERJournal
import HostAccess
import PCIModel

/// What the watchdog needs from the hypervisor. vfio-aerd implements it over libvirt; the
/// unit tests use a recording stand-in (the real libvirtd is exercised by the integration test).
public protocol GuestControl: AnyObject {
    /// Running guests and the PCI functions their live XML gives them.
    func runningGuests() throws -> [String: [PCIAddress]]
    func destroy(_ domain: String) throws
    func shutdown(_ domain: String) throws
    func start(_ domain: String) throws
}

/// Decides and acts on AER events: every event is journaled before anything else; guests
/// that own the failing device (the function, its PF or VFs, or anything below a failing
/// port) are taken down; after SUCCESSFUL_RECOVERY with DEVICE_ONLINE=1 they are started
/// again after a back-off, at most K times an hour. Every decision is journaled with its
/// reason. An event whose handling fails, or that was being handled when the daemon stopped,
/// is `poisoned` in the journal after that one try and never replayed. Not thread-safe: the
/// daemon drives it from one queue.
public final class Watchdog {
    /// Replaced by a fresh journal when the file is found corrupt, deleted or replaced.
    public private(set) var journal: AERJournal
    public var policy: AERPolicy
    public let control: any GuestControl
    /// The host's topology, for owners through PF/VF links and below ports.
    public var model: HostModel?
    /// Registrations the libvirt hook wrote (`STATE/domains/NAME`: `device ADDRESS` lines).
    public var registrations: StateDirectory?
    /// Problems worth a log line (a failed libvirt call, a full disk).
    public var log: (String) -> Void = { _ in }

    /// Guests this watchdog took down, with the function whose error did it.
    private var takenDown: [String: PCIAddress] = [:]
    /// Guests to start once `due` has passed, with the event that recovered their device
    /// (nil when the journal could not take that event).
    private var pendingRestarts: [(domain: String, due: Double, eventID: Int64?)] = []
    private var restarts: [String: [Double]] = [:]
    private var correctableWindow: [PCIAddress: [Double]] = [:]
    /// Counters for `--metrics-port`.
    public var metrics: WatchdogMetrics {
        var result = counted
        result.guestsDown = takenDown.count
        result.pendingRestarts = pendingRestarts.count
        return result
    }
    private var counted = WatchdogMetrics()
    /// When each function last had a recovery uevent (arrival time).
    private var recoveryUevents: [PCIAddress: Double] = [:]
    /// Set while the journal refuses writes, so the problem is logged once, not per event.
    private var journalFailing = false
    /// An event stayed unhandled because libvirt could not be asked; `tick` retries.
    private var retryUnhandled = false
    private var nextRetry = 0.0

    public init(journal: AERJournal, policy: AERPolicy, control: any GuestControl) {
        self.journal = journal
        self.policy = policy
        self.control = control
    }

    /// Rebuilds what the watchdog had done before it stopped, from the journal's latest decision
    /// per guest: guests it took down (still to be started after a recovery), restarts that
    /// were scheduled, and the restarts of the last hour that count against the policy's limit.
    public func restoreState(now: Double) throws {
        for (decision, device) in try journal.latestGuestDecisions() {
            switch decision.action {
            case .destroy, .shutdown: takenDown[decision.domain] = device
            case .restartScheduled:
                pendingRestarts.append(
                    (decision.domain, decision.time + policy.restartBackoffSeconds, decision.eventID))
            default: break
            }
        }
        for decision in try journal.decisions(since: now - 3600) where decision.action == .start {
            restarts[decision.domain, default: []].append(decision.time)
        }
    }

    /// Events journaled but not handled, oldest first. `pending` ones (never tried, or waiting
    /// for libvirt) are handled now, once; a take-down whose device has since recovered is
    /// recorded as superseded instead of acted on. `inProgress` ones (the daemon stopped while
    /// handling them: perhaps they stopped it) and rows that are not valid events are
    /// poisoned, not tried. Throws when the journal cannot be read, or libvirt cannot be asked
    /// (the rest stays pending and `tick` tries again).
    public func resumeUnhandled(now: Double) throws {
        let unfinished = try journal.unfinished()
        retryUnhandled = false
        guard !unfinished.isEmpty else { return }
        let earliest = unfinished.compactMap { try? $0.event.get().time }.min() ?? 0
        let recoveries = try journal.events(since: earliest).filter(\.event.deviceRecovered)
        for row in unfinished {
            let entry: AEREvent
            switch (row.state, row.event) {
            case (_, .failure(let invalid)):
                poison(id: row.id, reason: "not a valid event: \(invalid)")
                continue
            case (.inProgress, .success(let event)):
                poison(
                    id: row.id,
                    reason:
                        "\(event.kind.rawValue) on \(event.device): vfio-aerd stopped before its handling was recorded (a crash, a kill, a power loss or a journal write failure); not tried again"
                )
                continue
            case (_, .success(let event)):
                entry = event
            }
            if entry.takesGuestDown,
                let recovery = recoveries.first(where: { $0.id > row.id && related(entry.device, $0.event.device) })
            {
                try persist(
                    [
                        .init(
                            eventID: row.id, time: now, domain: "-", action: .superseded,
                            reason:
                                "\(recovery.event.device) recovered (event \(recovery.id)) before this event was handled",
                            latencyMilliseconds: 0)
                    ],
                    handling: row.id)
                continue
            }
            try journal.setState(.inProgress, of: row.id)
            do {
                try decide(entry, id: row.id, arrival: now)
            } catch let unavailable as OwnersUnavailable {
                // Later events wait too: they must not be handled before this one.
                try? journal.setState(.pending, of: row.id)
                retryUnhandled = true
                throw unavailable.underlying
            } catch let error as AERJournal.Error {
                throw error
            } catch {
                poison(id: row.id, reason: "\(entry.kind.rawValue) on \(entry.device): handling failed: \(error)")
            }
        }
    }

    /// Journals the event, then decides and acts. Returns the decisions taken. When the journal
    /// is found corrupt, deleted or replaced, it is moved aside and a fresh one takes the event;
    /// when it cannot be written at all (a full disk), the guests are still protected: the
    /// watchdog acts and logs the event and its decisions instead. When libvirt cannot say who
    /// owns the device, the event stays pending in the journal and `tick` tries again. When
    /// handling the event fails in any other way, it is poisoned: journaled with a `poisoned`
    /// decision that says why, logged, and never tried again.
    @discardableResult
    public func handle(_ event: AEREvent, arrival: Double) throws -> [AERJournal.Decision] {
        let id = journalEvent(event)
        do {
            return try decide(event, id: id, arrival: arrival)
        } catch let unavailable as OwnersUnavailable {
            if let id {
                do { try journal.setState(.pending, of: id) } catch { log("journal: \(error)") }
                retryUnhandled = true
            }
            throw unavailable.underlying
        } catch let error as AERJournal.Error {
            throw error
        } catch {
            return poison(id: id, reason: "\(event.kind.rawValue) on \(event.device): handling failed: \(error)")
        }
    }

    /// libvirt could not be asked who owns a device: the event waits, it is not poisoned.
    struct OwnersUnavailable: Error {
        var underlying: any Error
    }

    /// Appends the event as `inProgress`; nil when no journal takes it (then it is logged).
    private func journalEvent(_ event: AEREvent) -> Int64? {
        if journal.hasMoved {
            replaceJournal(
                moveAside: false, because: "the AER journal \(journal.path) was deleted or replaced while vfio-aerd ran"
            )
        }
        do {
            let id = try journal.append(event, state: .inProgress)
            if journalFailing {
                journalFailing = false
                log("the AER journal \(journal.path) is writable again")
            }
            return id
        } catch {
            if error.corrupt {
                replaceJournal(moveAside: true, because: "\(error)")
                if let id = try? journal.append(event, state: .inProgress) { return id }
            }
            counted.journalWriteFailures += 1
            if !journalFailing {
                log(
                    error.diskFull
                        ? "the AER journal \(journal.path) is full (free space on its disk): acting on events without journaling them"
                        : "the AER journal \(journal.path) cannot be written (\(error)): acting on events without journaling them"
                )
            }
            journalFailing = true
            log(
                "event (not journaled): \(event.kind.rawValue) on \(event.device) ×\(event.count) (\(event.source.rawValue))"
            )
            return nil
        }
    }

    /// Closes the journal, moves its file aside when `moveAside` (it is corrupt) and starts a
    /// fresh one at the same path (see `AERJournal.openForDaemon`).
    private func replaceJournal(moveAside: Bool, because reason: String) {
        let path = journal.path
        journal.close()
        log("\(reason): starting a new AER journal at \(path)")
        if moveAside {
            do {
                let aside = try AERJournal.moveAside(path, now: wallClock())
                log("the unusable AER journal is kept as \(aside)")
            } catch {
                log("\(error)")
            }
        } else {
            for kept in AERJournal.moveSidecarsAside(path, now: wallClock()) {
                log("the old journal's \(kept.hasSuffix("-wal") ? "write-ahead log" : "file") is kept as \(kept)")
            }
        }
        do {
            journal = try AERJournal.openForDaemon(path: path, now: wallClock(), log: log)
        } catch {
            log("no AER journal at all: \(error)")
        }
    }

    /// Marks an event poisoned (a `poisoned` decision with the reason, in the journal when it
    /// took the event) and logs it.
    @discardableResult
    private func poison(id: Int64?, reason: String) -> [AERJournal.Decision] {
        let decision = AERJournal.Decision(
            eventID: id ?? 0, time: wallClock(), domain: "-", action: .poisoned, reason: reason,
            latencyMilliseconds: 0)
        log("event \(id.map(String.init) ?? "(not journaled)") poisoned, it will not be tried again: \(reason)")
        counted.count([decision], takeDownAction: DecisionAction(policy.action))
        guard let id else { return [decision] }
        do { try journal.record([decision], handling: id, as: .poisoned) } catch {
            log("cannot mark event \(id) poisoned: \(error)")
        }
        return [decision]
    }

    @discardableResult
    private func decide(_ event: AEREvent, id: Int64?, arrival: Double) throws -> [AERJournal.Decision] {
        try event.checkBounds()
        var decisions: [AERJournal.Decision] = []
        func note(_ domain: String, _ action: DecisionAction, _ reason: String) {
            decisions.append(
                .init(
                    eventID: id ?? 0, time: wallClock(), domain: domain, action: action, reason: reason,
                    latencyMilliseconds: (wallClock() - arrival) * 1000))
        }
        if event.source != .counter,
            event.kind == .beginRecovery || event.kind == .successfulRecovery || event.kind == .failedRecovery
        {
            recoveryUevents[event.device] = arrival
        }
        let takeDown = event.takesGuestDown || (event.kind == .nonFatal && policy.nonFatalCounter == .takeDown)
        if event.source == .counter, event.kind != .correctable,
            let explained = explainingUevent(for: event.device, now: arrival)
        {
            // The kernel ran its recovery for this error and said so; the uevents decide.
            note("-", .explained, "counter moved with recovery uevents on \(explained)")
        } else if takeDown {
            let owners: Set<String>
            do { owners = try self.owners(of: event.device) } catch { throw OwnersUnavailable(underlying: error) }
            for domain in owners.sorted() {
                // Latency is measured up to the call: libvirt's own time is not ours.
                note(
                    domain, DecisionAction(policy.action),
                    "\(event.kind.rawValue) on \(event.device) (\(event.source.rawValue))\(containment(of: event.device))"
                )
                do {
                    switch policy.action {
                    case .shutdown: try control.shutdown(domain)
                    case .destroy: try control.destroy(domain)
                    }
                    takenDown[domain] = event.device
                } catch {
                    note(domain, .failed, "\(policy.action.rawValue) failed: \(error)")
                    log("\(policy.action.rawValue) \(domain) failed: \(error)")
                }
            }
            if event.kind == .failedRecovery {
                // The kernel gave up (pcie_do_recovery: a driver voted DISCONNECT, or a function
                // below the port has no driver to recover it): no SUCCESSFUL_RECOVERY will come.
                for (domain, device) in takenDown.sorted(by: { $0.key < $1.key })
                where related(device, event.device) {
                    note(
                        domain, .stayDown,
                        "the kernel could not recover \(event.device) (FAILED_RECOVERY): start \(domain) by hand once its devices work"
                    )
                    takenDown[domain] = nil
                }
            }
        } else if event.deviceRecovered {
            let now = wallClock()
            for (domain, device) in takenDown.sorted(by: { $0.key < $1.key }) where related(device, event.device) {
                let recent = (restarts[domain] ?? []).filter { now - $0 < 3600 }
                if !policy.restart {
                    note(domain, .stayDown, "policy: restart = false")
                } else if recent.count >= policy.maxRestartsPerHour {
                    note(
                        domain, .stayDown,
                        "\(recent.count) restarts in the last hour (max-restarts-per-hour \(policy.maxRestartsPerHour))"
                    )
                } else {
                    pendingRestarts.append((domain, now + policy.restartBackoffSeconds, id))
                    note(
                        domain, .restartScheduled,
                        "\(event.device) recovered; start in \(Int(policy.restartBackoffSeconds)) s")
                }
                takenDown[domain] = nil
            }
        } else if event.kind == .correctable {
            // Only the last threshold + 1 times matter: a count of a million is not a million times.
            let window =
                (correctableWindow[event.device] ?? []).filter { event.time - $0 < 60 }
                + Array(repeating: event.time, count: min(event.count, policy.correctableWarnPerMinute + 1))
            correctableWindow[event.device] = Array(window.suffix(policy.correctableWarnPerMinute + 1))
            if window.count > policy.correctableWarnPerMinute {
                note(
                    "-", .warn,
                    "\(event.device): more than \(policy.correctableWarnPerMinute) correctable errors in a minute")
                correctableWindow[event.device] = []
            }
        } else if event.kind == .nonFatal {
            note("-", .warn, "non-fatal error counted on \(event.device) without a recovery event")
        }
        counted.count(event)
        try persist(decisions, handling: id)
        return decisions
    }

    /// Counts the decisions for the metrics and journals them as the handling of `eventID`;
    /// decisions about an event the journal could not take (nil) go to the log instead.
    private func persist(_ decisions: [AERJournal.Decision], handling eventID: Int64?) throws {
        counted.count(decisions, takeDownAction: DecisionAction(policy.action))
        func logDecisions() {
            for decision in decisions {
                log("decision (not journaled): \(decision.action.rawValue) \(decision.domain): \(decision.reason)")
            }
        }
        guard let eventID else { return logDecisions() }
        do {
            try journal.record(decisions, handling: eventID)
        } catch {
            logDecisions()
            if error.corrupt { replaceJournal(moveAside: true, because: "\(error)") }
            throw error
        }
    }

    /// A device related to `device` that had a recovery uevent within `counterGraceSeconds`:
    /// the kernel's recovery covers the counter that moved.
    private func explainingUevent(for device: PCIAddress, now: Double) -> PCIAddress? {
        recoveryUevents.filter { now - $0.value < Self.counterGraceSeconds }.keys.sorted().first { related($0, device) }
    }

    /// How long a recovery uevent explains counters that move around it.
    static let counterGraceSeconds = 30.0

    /// Starts guests whose back-off has passed and retries events libvirt could not be asked
    /// about; call it periodically.
    public func tick(now: Double) {
        if retryUnhandled, now >= nextRetry {
            nextRetry = now + 5
            do { try resumeUnhandled(now: now) } catch { log("events still unhandled: \(error)") }
        }
        let due = pendingRestarts.filter { $0.due <= now }
        pendingRestarts.removeAll { $0.due <= now }
        for restart in due {
            var decision = AERJournal.Decision(
                eventID: restart.eventID ?? 0, time: now, domain: restart.domain, action: .start,
                reason: "back-off over",
                latencyMilliseconds: 0)
            do {
                try control.start(restart.domain)
                restarts[restart.domain, default: []].append(now)
            } catch {
                decision.action = .failed
                decision.reason = "start failed: \(error)"
                log("start \(restart.domain) failed: \(error)")
            }
            do { try persist([decision], handling: restart.eventID) } catch { log("journal: \(error)") }
        }
    }

    public var hasPendingRestarts: Bool { !pendingRestarts.isEmpty }

    /// Guests that own the function, its PF or VFs, or (for a port) anything below it.
    public func owners(of device: PCIAddress) throws -> Set<String> {
        var affected: Set<PCIAddress> = [device]
        if let model {
            if let pf = model[device]?.physicalFunction { affected.insert(pf) }
            var frontier = [device]
            while let current = frontier.popLast() {
                for child in model.children(of: current) where affected.insert(child.address).inserted {
                    frontier.append(child.address)
                }
            }
            for candidate in model.devices where candidate.physicalFunction == device {
                affected.insert(candidate.address)
            }
        }
        var guests = Set<String>()
        let running = try control.runningGuests()
        for (domain, devices) in running where !affected.isDisjoint(with: devices) { guests.insert(domain) }
        if let registrations {
            for name in (try? registrations.list()) ?? [] where running[name] != nil {
                let devices = (try? registrations.registeredDevices(name)) ?? []
                if !affected.isDisjoint(with: devices) { guests.insert(name) }
            }
        }
        return guests
    }

    /// Names the DPC port that contained the error, when the topology has one above the device
    /// (or the device is one): DPC recovery sends the same uevents as AER recovery
    /// (drivers/pci/pcie/dpc.c calls pcie_do_recovery), so only the log line differs.
    private func containment(of device: PCIAddress) -> String {
        guard let port = model?.containingPort(of: device) else { return "" }
        return ", contained by DPC at \(port.address)"
    }

    /// The same function, or PF and VF of each other, or one below the other.
    private func related(_ a: PCIAddress, _ b: PCIAddress) -> Bool {
        if a == b { return true }
        guard let model else { return false }
        if model[a]?.physicalFunction == b || model[b]?.physicalFunction == a { return true }
        return model.upstreamBridges(of: a).contains { $0.address == b }
            || model.upstreamBridges(of: b).contains { $0.address == a }
    }
}
