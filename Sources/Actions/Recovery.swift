import HostAccess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// `vfioctl recover`: replays every unfinished journal, newest first, undoing each record
/// newest first, and removes a journal only when everything in it was undone. In a dry run it
/// only reports the writes it would make.
public struct Recovery {
    public struct Replayed: Sendable {
        public var journal: FilePath
        public var action: String
        public var records: [JournalRecord]
        /// What could not be undone; the journal is kept when this is not empty.
        public var failures: [String]
    }

    public let session: HostSession

    /// Opens a recovery session (it is the one session an unfinished journal does not stop).
    public init(roots: HostRoots, state: ActionState, dryRun: Bool) throws {
        session = try HostSession(roots: roots, state: state, action: "recover", dryRun: dryRun, recovering: true)
    }

    public func run() throws -> [Replayed] {
        var replayed: [Replayed] = []
        let state = session.state
        for journal in try ActionJournal.unfinished(in: state.journalDirectory, legacy: state.legacyJournal) {
            let failures = JournalReplay(session: session).undo(journal.records)
            if failures.isEmpty, !session.dryRun {
                _ = journal.path.withPlatformString { unlink($0) }
            }
            replayed.append(
                Replayed(
                    journal: journal.path, action: journal.action, records: Array(journal.records.dropFirst()),
                    failures: failures))
            guard failures.isEmpty else { break }
        }
        return replayed
    }
}
