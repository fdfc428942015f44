import AEREvents
import AERJournal
import Exposition

/// What the watchdog has seen and done since it started, for `vfio-aerd --metrics-port`
/// (Prometheus text exposition format 0.0.4). The journal is the record; these are counters
/// for dashboards and alerts.
public struct WatchdogMetrics: Sendable, Equatable {
    /// An event's label pair: what happened and where it came from.
    public struct EventLabels: Hashable, Sendable {
        public var kind: AEREvent.Kind
        public var source: AEREvent.Source
    }

    /// Events by kind and source.
    public var events: [EventLabels: Int] = [:]
    /// Errors by kind: counter events add every error they cover.
    public var errors: [AEREvent.Kind: Int] = [:]
    /// Decisions by action (destroy, start, warn, explained, …).
    public var decisions: [DecisionAction: Int] = [:]
    public var journalWriteFailures = 0
    /// Milliseconds from arrival to the libvirt call of the latest take-down.
    public var lastTakeDownLatencyMilliseconds: Double?
    public var guestsDown = 0
    public var pendingRestarts = 0

    public init() {}

    mutating func count(_ event: AEREvent) {
        events[EventLabels(kind: event.kind, source: event.source), default: 0] += 1
        // Saturating: a counter on a dashboard must not be what stops the watchdog.
        let (sum, overflow) = errors[event.kind, default: 0].addingReportingOverflow(max(event.count, 0))
        errors[event.kind] = overflow ? Int.max : sum
    }

    mutating func count(_ decisions: [AERJournal.Decision], takeDownAction: DecisionAction) {
        for decision in decisions {
            self.decisions[decision.action, default: 0] += 1
            if decision.action == takeDownAction { lastTakeDownLatencyMilliseconds = decision.latencyMilliseconds }
        }
    }

    /// The families `vfio-aerd --metrics-port` serves, named as every vfioctl metric is
    /// (`vfioctl_aerd_…`, units in the name, `_total` on counters). Every counter series exists
    /// from the first scrape, at 0: `increase()` counts the first fatal error only if the
    /// series was there before it. The take-down latency appears after the first take-down.
    public var families: [MetricFamily] {
        var eventFamily = MetricFamily(
            "vfioctl_aerd_events_total", .counter, help: "AER events received, by kind and source.",
            labels: ["kind", "source"])
        for kind in AEREvent.Kind.allCases {
            for source in AEREvent.Source.allCases {
                eventFamily.add(
                    [kind.rawValue, source.rawValue], events[EventLabels(kind: kind, source: source)] ?? 0)
            }
        }
        var errorFamily = MetricFamily(
            "vfioctl_aerd_errors_total", .counter,
            help: "AER errors by kind (a counter event covers all errors it saw).", labels: ["kind"])
        for kind in AEREvent.Kind.allCases { errorFamily.add([kind.rawValue], errors[kind] ?? 0) }
        var decisionFamily = MetricFamily(
            "vfioctl_aerd_decisions_total", .counter, help: "Decisions taken, by action.", labels: ["action"])
        let unknown = decisions.keys.filter { !DecisionAction.known.contains($0) }.sorted { $0.rawValue < $1.rawValue }
        for action in DecisionAction.known + unknown { decisionFamily.add([action.rawValue], decisions[action] ?? 0) }
        var journalFamily = MetricFamily(
            "vfioctl_aerd_journal_write_failures_total", .counter,
            help: "Events that could not be journaled (a full disk).")
        journalFamily.add([], journalWriteFailures)
        var downFamily = MetricFamily(
            "vfioctl_aerd_guests_down", .gauge, help: "Guests taken down and not yet started again.")
        downFamily.add([], guestsDown)
        var pendingFamily = MetricFamily(
            "vfioctl_aerd_pending_restarts", .gauge, help: "Guests waiting for their restart back-off.")
        pendingFamily.add([], pendingRestarts)
        var families = [eventFamily, errorFamily, decisionFamily, journalFamily, downFamily, pendingFamily]
        if let latency = lastTakeDownLatencyMilliseconds {
            var latencyFamily = MetricFamily(
                "vfioctl_aerd_last_take_down_latency_seconds", .gauge,
                help: "Event arrival to the libvirt call, latest take-down.")
            latencyFamily.add([], latency / 1000)
            families.append(latencyFamily)
        }
        return families
    }

    /// The Prometheus text exposition format of `families`.
    public func rendered() -> String { ExpositionText.render(families) }
}
