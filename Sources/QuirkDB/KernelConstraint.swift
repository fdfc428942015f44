import PCIModel

/// `kernel = ">= 5.4, < 5.10"` under `[quirk.match.host]`: the kernel releases a quirk models.
/// Every comparison must hold. Versions are the mainline `M.N[.P]` that `kernel/osrelease`
/// begins with (`KernelVersion`); a distribution's backports are invisible in it.
public struct KernelConstraint: Sendable, Equatable, CustomStringConvertible {
    public enum Comparison: String, Sendable, CaseIterable {
        case atLeast = ">="
        case above = ">"
        case atMost = "<="
        case below = "<"
        case equal = "=="

        func holds(_ version: KernelVersion, _ bound: KernelVersion) -> Bool {
            switch self {
            case .atLeast: version >= bound
            case .above: version > bound
            case .atMost: version <= bound
            case .below: version < bound
            case .equal: version == bound
            }
        }
    }

    /// A bound written `M.N` names a whole series: `<= 6.1` and `== 6.1` hold for 6.1.57, and
    /// `> 6.1` starts at 6.2. Written `M.N.P`, it is that release exactly.
    public struct Term: Sendable, Equatable {
        public var comparison: Comparison
        public var version: KernelVersion
        public var seriesOnly: Bool

        func holds(_ running: KernelVersion) -> Bool {
            let compared = seriesOnly ? KernelVersion(running.major, running.minor) : running
            return comparison.holds(compared, version)
        }
    }

    public let terms: [Term]

    /// Parses `">= 5.10"`, `"< 5.10, >= 5.4"`; the error says what is wrong with which part.
    public init(parsing text: String) throws(KernelConstraintError) {
        var terms: [Term] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let term = part.trimmingSpaces
            guard !term.isEmpty else {
                throw KernelConstraintError(
                    "kernel \"\(text)\" has an empty comparison: write \">= 5.10\" or \">= 5.4, < 5.10\"")
            }
            // Two-character operators first: ">=" before ">".
            let operators = Comparison.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
            guard let comparison = operators.first(where: { term.hasPrefix($0.rawValue) }) else {
                throw KernelConstraintError(
                    "kernel comparison \"\(term)\" must start with >=, >, <=, < or == (as in \">= 5.10\")")
            }
            let versionText = term.dropFirst(comparison.rawValue.count).trimmingSpaces
            guard let version = Self.strictVersion(versionText) else {
                throw KernelConstraintError(
                    "kernel comparison \"\(term)\": \"\(versionText)\" is not a version M.N or M.N.P (each at most 1000000)"
                )
            }
            let seriesOnly = versionText.split(separator: ".", omittingEmptySubsequences: false).count == 2
            terms.append(Term(comparison: comparison, version: version, seriesOnly: seriesOnly))
        }
        self.terms = terms
    }

    /// Whether `version` satisfies every comparison.
    public func isSatisfied(by version: KernelVersion) -> Bool {
        terms.allSatisfy { $0.holds(version) }
    }

    public var description: String {
        terms.map { term in
            let version = term.version
            let text =
                term.seriesOnly
                ? "\(version.major).\(version.minor)" : "\(version.major).\(version.minor).\(version.patch)"
            return "\(term.comparison.rawValue) \(text)"
        }
        .joined(separator: ", ")
    }

    /// Exactly `M.N` or `M.N.P`, decimal digits only, no number over 1000000.
    public static func strictVersion(_ text: Substring) -> KernelVersion? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 7, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(part), value <= 1_000_000
            else { return nil }
            numbers.append(value)
        }
        return KernelVersion(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 0)
    }
}

/// Why a `kernel = …` constraint was refused.
public struct KernelConstraintError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}

/// Which kernel's rules a prediction models (`predictionKernel` in `inspect --json`).
public struct PredictionKernel: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// The source's own `/proc/sys/kernel/osrelease`.
        case osrelease
        /// `--kernel VERSION`.
        case option
        /// Neither: every kernel-scoped quirk applies, as for today's kernel.
        case unknown
    }

    public var version: KernelVersion?
    public var source: Source

    public init(version: KernelVersion?, source: Source) {
        self.version = version
        self.source = source
    }

    /// The model's own kernel, or unknown.
    public init(model: HostModel) {
        if let version = model.facts.kernelVersion {
            self.init(version: version, source: .osrelease)
        } else {
            self.init(version: nil, source: .unknown)
        }
    }

    /// One line for text output.
    public var summary: String {
        switch source {
        case .osrelease: "prediction models kernel \(version?.description ?? "?") (the source's osrelease)"
        case .option: "prediction models kernel \(version?.description ?? "?") (--kernel)"
        case .unknown:
            "prediction models today's kernel: the source's kernel is unknown, every kernel-scoped quirk applies"
        }
    }
}

extension QuirkDatabase {
    /// The quirks that apply under `version`: those whose `kernel` it satisfies, with the
    /// constraint resolved (removed), so that matching no longer consults the model's kernel.
    /// nil (unknown) keeps every quirk as it is.
    public func scoped(toKernel version: KernelVersion?) -> QuirkDatabase {
        guard let version else { return self }
        return QuirkDatabase(
            quirks: quirks.compactMap { quirk in
                guard let constraint = quirk.host?.kernel else { return quirk }
                guard constraint.isSatisfied(by: version) else { return nil }
                var resolved = quirk
                resolved.host?.kernel = nil
                return resolved
            })
    }
}
