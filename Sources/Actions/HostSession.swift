import HostAccess
import Logging
import PCIModel
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One host transaction: every change vfioctl makes to a host goes through one of these.
///
/// A session owns the host-wide lock (`STATE/lock`), the journal of its action (its own file
/// in `STATE/journals/`, see `ActionJournal`) and the writer. Before each change the code
/// that makes it calls `journal(_:)` with what the change replaces; `run(_:)` then either
/// completes the action (the journal goes) or, on any error, undoes every journaled change
/// newest first and reports whether that worked. While an unfinished journal exists, every
/// session but recovery refuses to start. A dry-run session takes no lock, creates no
/// directory, writes no journal and writes nothing to the host.
public final class HostSession {
    public let roots: HostRoots
    /// The state directory: lock, journals, binding records, hook registrations.
    public let state: ActionState
    public let writer: HostWriter
    public let action: String
    public var dryRun: Bool { writer.dryRun }
    public var logger = Logger(label: "vfioctl.session")
    /// What the session did (or, in a dry run, would do) besides sysfs writes, in order:
    /// `modprobe vfio_pci`.
    public var notes: [String] = []
    /// Kernel modules (libkmod); only ever used on the live host.
    public var modules: () throws -> KernelModules = { try KernelModules() }
    /// Held from the start of the session until its action is over (completed or undone).
    private var lock: HostLock?
    private var journalFile: ActionJournal?
    private var writesDone = 0

    /// Opens a session for `action` (in words, for the journal and messages).
    /// - Throws: `busy` when another action holds the lock; `unfinishedJournal` when a crashed
    ///   action's journal waits for `vfioctl recover` (unless `recovering`).
    public init(roots: HostRoots, state: ActionState, action: String, dryRun: Bool, recovering: Bool = false)
        throws
    {
        self.roots = roots
        self.state = state
        self.action = action
        writer = HostWriter(dryRun: dryRun)
        lock = dryRun ? nil : try HostLock(stateDirectory: state.directory)
        if !recovering {
            let left = try ActionJournal.unfinished(in: state.journalDirectory, legacy: state.legacyJournal)
            if let newest = left.first {
                throw ActionError(
                    .unfinishedJournal,
                    "an earlier action (\(newest.action)) did not finish: its journal \(newest.path) is still there. "
                        + "Run `vfioctl recover` first"
                        + (dryRun ? " (`vfioctl recover --dry-run` shows what it does)" : "")
                )
            }
        }
        writer.afterWrite = { [unowned self] write in try self.afterWrite(write) }
    }

    /// Journals `record` before the change it protects. Nothing in a dry run.
    public func journal(_ record: JournalRecord) throws {
        guard !dryRun else { return }
        if journalFile == nil {
            journalFile = try ActionJournal(directory: state.journalDirectory, action: action)
        }
        try journalFile?.append(record)
    }

    /// The records journaled so far (oldest first), without the action line.
    public var journaled: [JournalRecord] { Array((journalFile?.records ?? []).dropFirst()) }

    /// Runs `body`; on success the action is complete. On failure every journaled change is
    /// undone, newest first, and the error says whether the host is back as it was.
    public func run<T>(_ body: (HostSession) throws -> T) throws -> T {
        do {
            let result = try body(self)
            complete()
            return result
        } catch {
            throw rollBack(after: error)
        }
    }

    /// Marks the action done: its journal goes, and the lock with it.
    public func complete() {
        journalFile?.remove()
        journalFile = nil
        lock = nil
    }

    /// Undoes every change journaled so far, newest first; when all were undone the journal
    /// goes. Returns what could not be undone.
    public func undoAll() -> [String] {
        let records = journaled
        guard !records.isEmpty else {
            complete()
            return []
        }
        let failures = JournalReplay(session: self).undo(records)
        if failures.isEmpty { complete() }
        return failures
    }

    /// The journal of this action, while it has one.
    public var journalPath: String? { journalFile?.path.string }

    /// Undoes this session's journaled changes after `cause`; returns the error to report.
    func rollBack(after cause: any Error) -> any Error {
        guard !journaled.isEmpty, let file = journalFile else {
            complete()
            return cause
        }
        let failures = undoAll()
        guard failures.isEmpty else {
            // The action is over; its journal stays for `vfioctl recover`, which needs the lock.
            lock = nil
            return ActionError(
                .failedRollbackIncomplete,
                "\(cause); undoing it failed too (\(failures.joined(separator: "; "))): the journal \(file.path) is kept, run `vfioctl recover`",
                cause: cause)
        }
        if let actionError = cause as? ActionError, actionError.code == .failedAndRolledBack { return actionError }
        return ActionError(
            .failedAndRolledBack, "\(cause); every change was undone, the host is as it was",
            cause: cause)
    }

    // MARK: - Crash tests and the kernel seam

    /// Called after every real write: the kernel behind a tree (tests), then the crash-test
    /// limit (`VFIOCTL_TEST_STOP_AFTER_WRITES=K`: die by SIGKILL after write K).
    private func afterWrite(_ write: HostWriter.Write) throws {
        if let kernel = kernel ?? Self.processKernel.withLock({ $0 }) {
            try kernel.react(to: write)
        }
        writesDone += 1
        if let limit = Self.crashAfterWrites, writesDone >= limit { raise(SIGKILL) }
    }

    /// The kernel behind this session's tree. nil on a live host, where the real kernel reacts.
    public var kernel: (any KernelBehindWrites)?

    private static let processKernel = Mutex<(any KernelBehindWrites)?>(nil)

    /// The kernel behind every later session of this process that has none of its own: for a
    /// test program that runs the command line on a tree (sessions are made deep inside it).
    public static func useKernel(_ kernel: (any KernelBehindWrites)?) {
        processKernel.withLock { $0 = kernel }
    }

    static let crashAfterWrites: Int? = {
        guard let text = getenv("VFIOCTL_TEST_STOP_AFTER_WRITES") else { return nil }
        return Int(String(cString: text)).flatMap { $0 > 0 ? $0 : nil }
    }()
}

/// Undoes journal records, newest first: the one piece of code behind a failed action's
/// rollback and `vfioctl recover`.
struct JournalReplay {
    let session: HostSession

    /// Returns what could not be undone (empty when everything was).
    func undo(_ records: [JournalRecord]) -> [String] {
        var failures: [String] = []
        let switcher = DriverSwitch(sys: session.roots.sys, writer: session.writer)
        for record in records.reversed() {
            do {
                switch record {
                case .action:
                    continue
                case .device(let prior):
                    try switcher.revert(prior)
                case .sriov(let pf, let count, let autoprobe):
                    try SRIOVManager(session: session).restore(pf, count: count, autoprobe: autoprobe)
                case .hugepages(let size, let node, let total):
                    _ = try Hugepages(roots: session.roots).resize(
                        HugepagePool(sizeKiB: size, node: node), to: total, writer: session.writer)
                case .stateFile(let name):
                    if !session.dryRun { session.state.removeFile(name) }
                case .resetMethod(let address, let previous):
                    try ResetMethodChanger(session: session).restore(address, methods: previous)
                case .configFile(let path, let previous, let mode):
                    // Only vfioctl's own file is put back: someone else's file (or a link or a
                    // FIFO) placed there since is refused, naming it, and the journal stays.
                    _ = try BootFiles.ownedFile(path, roots: session.roots)
                    try session.writer.replaceFile(
                        path, with: previous.map { .file(Array($0.utf8), mode: mode) } ?? .missing,
                        in: session.roots.top)
                case .module(let name):
                    guard session.roots.isLive else { continue }
                    let modules = try session.modules()
                    if !modules.isLoaded(name), !session.dryRun { try modules.load(name, options: nil) }
                }
            } catch {
                failures.append("\(record.line): \(error)")
            }
        }
        return failures
    }
}

extension HostSession {
    /// Resizes a hugepage pool, journaling its size before (`nr_hugepages`).
    public func resizeHugepages(_ pool: HugepagePool, to count: Int) throws -> HugepagePool {
        let hugepages = Hugepages(roots: roots)
        let current = try hugepages.read(pool)
        guard current.total != count else { return current }
        try journal(.hugepages(sizeKiB: pool.sizeKiB, node: pool.node, previousTotal: current.total))
        return try hugepages.resize(current, to: count, writer: writer)
    }
}
