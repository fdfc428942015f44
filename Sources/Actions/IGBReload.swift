import HostAccess

/// The igb (82576) module reload with `max_vfs`, in one of seed 000's sequences.
public struct IGBReload {
    public enum Sequence: String, Sendable, CaseIterable {
        /// `rmmod igb; modprobe igb max_vfs=N`
        case plain
        /// Seed 000's workaround for 82576 behind an IDT PES12N3A on X58 root port 3:
        /// `rmmod igb; modprobe igb max_vfs=1; rmmod igbvf; rmmod igb; modprobe igb max_vfs=N`
        case idtWorkaround = "idt-workaround"
    }

    public struct Step: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable { case load, unload }
        public var kind: Kind
        public var module: String
        public var options: String?
        public var description: String {
            kind == .load ? "modprobe \(module)" + (options.map { " " + $0 } ?? "") : "rmmod \(module)"
        }
    }

    /// igb keeps one queue pool for the PF, so it allows 7 VFs though the 82576 offers 8.
    public static let maximumVFs = 7

    public let maxVFs: Int
    public let requestedVFs: Int
    public let sequence: Sequence

    public init(maxVFs: Int, sequence: Sequence) {
        requestedVFs = maxVFs
        self.maxVFs = min(max(maxVFs, 0), Self.maximumVFs)
        self.sequence = sequence
    }

    /// Why the count changed, if it did.
    public var clampNote: String? {
        requestedVFs > Self.maximumVFs
            ? "max_vfs=\(requestedVFs) asked; igb allows at most \(Self.maximumVFs) VFs per PF (one pool stays with the PF): using \(Self.maximumVFs)"
            : nil
    }

    public var steps: [Step] {
        switch sequence {
        case .plain:
            [.init(kind: .unload, module: "igb"), .init(kind: .load, module: "igb", options: "max_vfs=\(maxVFs)")]
        case .idtWorkaround:
            [
                .init(kind: .unload, module: "igb"), .init(kind: .load, module: "igb", options: "max_vfs=1"),
                .init(kind: .unload, module: "igbvf"), .init(kind: .unload, module: "igb"),
                .init(kind: .load, module: "igb", options: "max_vfs=\(maxVFs)"),
            ]
        }
    }

    public struct StepResult: Sendable {
        public var step: Step
        public var outcome: String
        public var milliseconds: Double
    }

    /// Runs the steps in order, reporting each. A module that is not loaded is not unloaded.
    /// A failed step stops the sequence; igb is then loaded (without options) if it is not, so
    /// the host is never left without its driver.
    public func run(modules: KernelModules, report: (StepResult) -> Void) throws {
        for step in steps {
            let start = MonotonicClock.seconds()
            do {
                switch step.kind {
                case .unload:
                    guard modules.isLoaded(step.module) else {
                        report(
                            StepResult(step: step, outcome: "\(step.module) is not loaded: skipped", milliseconds: 0))
                        continue
                    }
                    try modules.unload(step.module)
                case .load:
                    try modules.load(step.module, options: step.options)
                }
                report(StepResult(step: step, outcome: "ok", milliseconds: (MonotonicClock.seconds() - start) * 1000))
            } catch {
                report(
                    StepResult(
                        step: step, outcome: "failed: \(error)", milliseconds: (MonotonicClock.seconds() - start) * 1000
                    ))
                var note = ""
                if !modules.isLoaded("igb") {
                    do {
                        try modules.load("igb", options: nil)
                        note = "; igb was loaded again without max_vfs"
                    } catch {
                        note = "; loading igb again failed too (\(error)): load it by hand"
                    }
                }
                throw ActionError(
                    .failedAndRolledBack, "\(step) failed: \(error)\(note)", cause: error)
            }
        }
    }
}
