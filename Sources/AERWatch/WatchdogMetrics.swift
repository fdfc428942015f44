import AEREvents
import AERJournal

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

    /// The Prometheus text format, metric names prefixed `vfio_aerd_`.
    public func rendered() -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            lines.append("# HELP vfio_aerd_\(name) \(help)")
            lines.append("# TYPE vfio_aerd_\(name) \(type)")
            for sample in samples { lines.append("vfio_aerd_\(name)\(sample.labels) \(sample.value)") }
        }
        family(
            "events_total", "counter", "AER events received, by kind and source.",
            events.map {
                (
                    labels: "{kind=\"\($0.key.kind.rawValue)\",source=\"\($0.key.source.rawValue)\"}",
                    value: "\($0.value)"
                )
            }
            .sorted { $0.labels < $1.labels })
        family(
            "errors_total", "counter", "AER errors by kind (a counter event covers all errors it saw).",
            errors.map { (labels: "{kind=\"\($0.key.rawValue)\"}", value: "\($0.value)") }.sorted {
                $0.labels < $1.labels
            })
        family(
            "decisions_total", "counter", "Decisions taken, by action.",
            decisions.map { (labels: "{action=\"\($0.key.rawValue)\"}", value: "\($0.value)") }
                .sorted { $0.labels < $1.labels })
        family(
            "journal_write_failures_total", "counter", "Events that could not be journaled (a full disk).",
            [("", "\(journalWriteFailures)")])
        family("guests_down", "gauge", "Guests taken down and not yet started again.", [("", "\(guestsDown)")])
        family("pending_restarts", "gauge", "Guests waiting for their restart back-off.", [("", "\(pendingRestarts)")])
        if let latency = lastTakeDownLatencyMilliseconds {
            family(
                "last_take_down_latency_seconds", "gauge", "Event arrival to the libvirt call, latest take-down.",
                [("", "\(latency / 1000)")])
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
