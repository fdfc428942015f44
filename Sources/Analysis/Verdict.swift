import PCIModel

/// How assignable a device or group is, worst last.
public enum Verdict: String, Sendable, Comparable, CaseIterable {
    case assignable
    case caveats
    case unknown
    case blocked

    private var rank: Int {
        switch self {
        case .assignable: 0
        case .caveats: 1
        case .unknown: 2
        case .blocked: 3
        }
    }

    public static func < (lhs: Verdict, rhs: Verdict) -> Bool { lhs.rank < rhs.rank }
}

/// One reason behind a verdict: a stable code, the verdict it pushes toward, and a message
/// that names the evidence (which bridge, which bit, which driver) and what to do.
public struct Reason: Sendable, Equatable {
    public var code: ReasonCode
    /// `.assignable` for information that does not lower the verdict.
    public var severity: Verdict
    public var message: String
    /// The functions the reason is about, besides the device itself.
    public var related: [String]

    /// `message` is kept `terminalSafe`: it often quotes what a file said.
    public init(_ code: ReasonCode, _ severity: Verdict, _ message: String, related: [String] = []) {
        self.code = code
        self.severity = severity
        self.message = message.terminalSafe
        self.related = related
    }
}

extension Array where Element == Reason {
    /// The worst severity, or `.assignable` when there is nothing against it.
    public var verdict: Verdict { map(\.severity).max() ?? .assignable }
}
