/// One metric family of the Prometheus text exposition format, version 0.0.4 (what
/// node_exporter's textfile collector reads and what `vfio-aerd --metrics-port` serves): a
/// name, a type, a HELP line and samples that all carry the same label names.
///
/// The names are vfioctl's own constants, so a name or label name that breaks the format's
/// rules is a programming error and stops here; label *values* come from the host and are
/// escaped when rendered.
public struct MetricFamily: Sendable {
    /// The `# TYPE` of a family. Only the two vfioctl uses.
    public enum Kind: String, Sendable {
        /// Only goes up (until a restart); its name ends in `_total`.
        case counter
        /// Goes up and down; its name must not end in `_total`.
        case gauge
    }

    /// A sample's value. Integers are written without a fraction, as counts are.
    public enum Value: Sendable, Equatable {
        case integer(Int)
        case real(Double)
    }

    public let name: String
    public let kind: Kind
    public let help: String
    public let labelNames: [String]
    /// Label values (one per label name) and value, in the order added.
    public private(set) var samples: [(labels: [String], value: Value)] = []
    private var sampleIndex: [[String]: Int] = [:]

    /// A family with no samples yet. `name` must be a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`)
    /// that ends in `_total` exactly when `kind` is a counter; `labelNames` valid label names
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, which Prometheus reserves), no two alike.
    public init(_ name: String, _ kind: Kind, help: String, labels labelNames: [String] = []) {
        precondition(ExpositionNames.isMetricName(name), "not a Prometheus metric name: \(name)")
        precondition(
            name.hasSuffix("_total") == (kind == .counter),
            "\(name): counters end in _total and nothing else does (Prometheus naming conventions)")
        for label in labelNames {
            precondition(ExpositionNames.isLabelName(label), "not a Prometheus label name: \(label)")
        }
        precondition(Set(labelNames).count == labelNames.count, "\(name): a label name given twice")
        self.name = name
        self.kind = kind
        self.help = help
        self.labelNames = labelNames
    }

    /// Adds a sample with one value per label name, in their order. A second sample with the
    /// same label values replaces the first: a scrape must not hold one series twice.
    public mutating func add(_ labels: [String], _ value: Value) {
        precondition(labels.count == labelNames.count, "\(name): \(labels.count) label values for \(labelNames)")
        if let index = sampleIndex[labels] {
            samples[index].value = value
        } else {
            sampleIndex[labels] = samples.count
            samples.append((labels, value))
        }
    }

    public mutating func add(_ labels: [String], _ value: Int) { add(labels, .integer(value)) }
    public mutating func add(_ labels: [String], _ value: Double) { add(labels, .real(value)) }
    public mutating func add(_ labels: [String], _ value: Bool) { add(labels, .integer(value ? 1 : 0)) }
}

/// The character rules of the exposition format's names.
public enum ExpositionNames {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    public static func isMetricName(_ name: String) -> Bool {
        isName(name, allowingColon: true)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and not `__…` (reserved for Prometheus' own labels).
    public static func isLabelName(_ name: String) -> Bool {
        isName(name, allowingColon: false) && !name.hasPrefix("__")
    }

    private static func isName(_ name: String, allowingColon: Bool) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                true
            case UInt8(ascii: ":"): allowingColon
            default: false
            }
        }
    }
}
