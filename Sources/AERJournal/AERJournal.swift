import AEREvents
import CSQLite
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// The AER journal: every event is written (SQLite, WAL, synchronous=FULL) before anything is
/// done about it, and every decision after. An event the daemon is handling is `inProgress`
/// until its decisions are written in the same transaction that marks it `handled`. A
/// restarted daemon handles `pending` events (journaled, never tried) and poisons
/// `inProgress` ones: a daemon that stopped while handling an event may have been killed by
/// it, and trying again would be a crash loop.
public final class AERJournal {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public var code: Int32
        public var message: String
        /// The file is not a usable journal (garbage, truncated, another schema, a directory):
        /// moving it aside and starting a fresh one is the remedy.
        public var corrupt: Bool
        /// SQLITE_FULL: the disk is full.
        public var diskFull: Bool { code == SQLITE_FULL }
        public var description: String { message }

        public init(code: Int32, message: String, corrupt: Bool? = nil) {
            self.code = code
            self.message = message
            self.corrupt = corrupt ?? [SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_FORMAT].contains(code & 0xff)
        }
    }

    /// An event's state, the `handled` column.
    public enum State: Int32, Sendable {
        /// Journaled, never tried (resumed on restart).
        case pending = 0
        /// Its decisions are journaled.
        case handled = 1
        /// Its handling failed or it stopped the daemon: never tried again.
        case poisoned = 2
        /// Being handled; still so at start-up means the daemon stopped while handling it.
        case inProgress = 3
    }

    public struct Entry: Sendable {
        public var id: Int64
        public var event: AEREvent
        public var state: State
        /// Nothing more will be done about it (handled or poisoned).
        public var handled: Bool { state == .handled || state == .poisoned }
    }

    /// A journal row that is not a valid event (unknown kind or device, a count out of bounds):
    /// it is poisoned rather than handled.
    public struct InvalidRow: Swift.Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// An event not handled yet: `pending` or `inProgress`, valid or not.
    public struct Unfinished: Sendable {
        public var id: Int64
        public var state: State
        public var event: Result<AEREvent, InvalidRow>
    }

    public struct Decision: Sendable {
        public var eventID: Int64
        public var time: Double
        public var domain: String
        public var action: DecisionAction
        public var reason: String
        /// Milliseconds from the event's arrival to the action (libvirt's own time excluded).
        public var latencyMilliseconds: Double

        public init(
            eventID: Int64, time: Double, domain: String, action: DecisionAction, reason: String,
            latencyMilliseconds: Double
        ) {
            self.eventID = eventID
            self.time = time
            self.domain = domain
            self.action = action
            self.reason = reason
            self.latencyMilliseconds = latencyMilliseconds
        }
    }

    private var handle: OpaquePointer?
    public let path: String
    /// Kept in memory only: no journal could be had at `path` (see `openForDaemon`).
    public let inMemory: Bool

    private var db: OpaquePointer? { handle }

    /// Opens (creating it unless `readOnly`) the journal at `path`. Readers (`vfioctl aer log`)
    /// open it read-only and get a clear error when vfio-aerd has not written one yet. A
    /// writer checks the file (`PRAGMA quick_check`) and its schema: an error with `corrupt`
    /// set means the file is not a usable journal. `inMemory` keeps the journal in memory,
    /// `path` only naming it in messages.
    public init(path: String, readOnly: Bool = false, inMemory: Bool = false) throws(Error) {
        var handle: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_FULLMUTEX
        let opened = sqlite3_open_v2(inMemory ? ":memory:" : path, &handle, flags, nil)
        guard opened == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            let hint = readOnly ? " (vfio-aerd creates it when it starts; is --journal the daemon's?)" : ""
            throw Error(
                code: opened, message: "cannot open the AER journal \(path): \(message)\(hint)",
                corrupt: !readOnly && !inMemory && Self.notRegularFile(path))
        }
        self.handle = handle
        self.path = path
        self.inMemory = inMemory
        sqlite3_busy_timeout(handle, 5000)
        if readOnly {
            // A file that is not a journal fails here rather than on the first query.
            try execute("SELECT 1 FROM events LIMIT 0; SELECT 1 FROM decisions LIMIT 0")
            return
        }
        do throws(Error) {
            // Nothing is written before the file is known to be an intact journal (or empty):
            // a file moved aside must be kept exactly as it was found.
            try quickCheck()
            try checkSchema()
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=FULL")
            try execute(
                """
                CREATE TABLE IF NOT EXISTS events (
                  id INTEGER PRIMARY KEY, time REAL NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
                  online INTEGER, count INTEGER NOT NULL, source TEXT NOT NULL, handled INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS decisions (
                  id INTEGER PRIMARY KEY, event INTEGER NOT NULL REFERENCES events(id), time REAL NOT NULL,
                  domain TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, latency_ms REAL NOT NULL);
                CREATE INDEX IF NOT EXISTS events_device ON events(device, time);
                """)
        } catch {
            var failure = error
            // A directory where the journal should be reads as "cannot open", another schema as
            // "no such column" (SQLITE_ERROR); a full disk or a lock does not make it corrupt.
            failure.corrupt =
                failure.corrupt || Self.notRegularFile(path) || (error.code & 0xff == SQLITE_ERROR && !inMemory)
            throw failure
        }
    }

    deinit { sqlite3_close(handle) }

    /// Closes the connection now (before the file is moved aside); every later call fails.
    public func close() {
        sqlite3_close(handle)
        handle = nil
    }

    /// SQLite's `PRAGMA quick_check`: a truncated or scribbled-over file fails here.
    private func quickCheck() throws(Error) {
        let statement = try prepare("PRAGMA quick_check(5)")
        defer { sqlite3_finalize(statement) }
        var problems: [String] = []
        var step = sqlite3_step(statement)
        while step == SQLITE_ROW {
            let line = text(statement, 0)
            if line != "ok" { problems.append(line) }
            step = sqlite3_step(statement)
        }
        guard step == SQLITE_DONE else { throw fail("quick_check") }
        guard problems.isEmpty else {
            throw Error(
                code: SQLITE_CORRUPT,
                message: "AER journal \(path): quick_check: \(problems.joined(separator: "; "))")
        }
    }

    /// An empty database, or one with vfio-aerd's tables and columns; another schema (or
    /// another program's database) is an error with `corrupt` set, found before any write.
    private func checkSchema() throws(Error) {
        let statement = try prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        var tables: Set<String> = []
        while sqlite3_step(statement) == SQLITE_ROW { tables.insert(text(statement, 0)) }
        sqlite3_finalize(statement)
        if tables.isEmpty { return }
        guard tables.isSuperset(of: ["events", "decisions"]) else {
            throw Error(
                code: SQLITE_ERROR,
                message:
                    "AER journal \(path): not a vfio-aerd journal (tables \(tables.sorted().joined(separator: ", ")))",
                corrupt: true)
        }
        for query in [
            "SELECT id, time, device, kind, online, count, source, handled FROM events LIMIT 0",
            "SELECT id, event, time, domain, action, reason, latency_ms FROM decisions LIMIT 0",
        ] {
            var probe: OpaquePointer?
            defer { sqlite3_finalize(probe) }
            guard sqlite3_prepare_v2(db, query, -1, &probe, nil) == SQLITE_OK else {
                var failure = fail("not a vfio-aerd journal")
                failure.corrupt = true
                throw failure
            }
        }
    }

    /// Copies the write-ahead log into the database file and empties it
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`).
    public func checkpoint() throws(Error) {
        try execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Whether something other than a regular file (a directory, a FIFO, a socket) is at `path`.
    private static func notRegularFile(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        return status.st_mode & S_IFMT != S_IFREG
    }

    /// Whether the file was deleted or renamed since it was opened (SQLITE_FCNTL_HAS_MOVED):
    /// SQLite would go on writing into an unlinked file.
    public var hasMoved: Bool {
        guard let db, !inMemory else { return false }
        var moved: Int32 = 0
        guard sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK else { return false }
        return moved != 0
    }

    private func fail(_ what: String) -> Error {
        guard let db else { return Error(code: SQLITE_MISUSE, message: "AER journal \(path): \(what): closed") }
        return Error(
            code: sqlite3_extended_errcode(db),
            message: "AER journal \(path): \(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    private func execute(_ sql: String) throws(Error) {
        guard let db else { throw fail(sql.prefix(40) + "…") }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw fail(sql.prefix(40) + "…") }
    }

    private func prepare(_ sql: String) throws(Error) -> OpaquePointer {
        var statement: OpaquePointer?
        guard let db, sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw fail("prepare")
        }
        return statement
    }

    /// Appends an event durably in `state`; returns its id.
    @discardableResult
    public func append(_ event: AEREvent, state: State = .pending) throws(Error) -> Int64 {
        let statement = try prepare(
            "INSERT INTO events(time, device, kind, online, count, source, handled) VALUES(?,?,?,?,?,?,?)")
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, event.time)
        sqlite3_bind_text(statement, 2, event.device.description, -1, csqlite_transient())
        sqlite3_bind_text(statement, 3, event.kind.rawValue, -1, csqlite_transient())
        if let online = event.deviceOnline {
            sqlite3_bind_int(statement, 4, online ? 1 : 0)
        } else {
            sqlite3_bind_null(statement, 4)
        }
        sqlite3_bind_int64(statement, 5, Int64(event.count))
        sqlite3_bind_text(statement, 6, event.source.rawValue, -1, csqlite_transient())
        sqlite3_bind_int(statement, 7, state.rawValue)
        guard sqlite3_step(statement) == SQLITE_DONE else { throw fail("insert event") }
        return sqlite3_last_insert_rowid(db)
    }

    /// Sets an event's state (`inProgress` before handling it, `pending` when it must wait).
    public func setState(_ state: State, of eventID: Int64) throws(Error) {
        let statement = try prepare("UPDATE events SET handled = ? WHERE id = ?")
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_int(statement, 1, state.rawValue)
        sqlite3_bind_int64(statement, 2, eventID)
        guard sqlite3_step(statement) == SQLITE_DONE else { throw fail("set state") }
    }

    /// Records the decisions taken for an event and marks it `handled` (or `poisoned`), in one
    /// transaction.
    public func record(_ decisions: [Decision], handling eventID: Int64, as state: State = .handled) throws(Error) {
        try execute("BEGIN IMMEDIATE")
        do throws(Error) {
            for decision in decisions {
                let statement = try prepare(
                    "INSERT INTO decisions(event, time, domain, action, reason, latency_ms) VALUES(?,?,?,?,?,?)")
                defer { sqlite3_finalize(statement) }
                sqlite3_bind_int64(statement, 1, decision.eventID)
                sqlite3_bind_double(statement, 2, decision.time)
                sqlite3_bind_text(statement, 3, decision.domain, -1, csqlite_transient())
                sqlite3_bind_text(statement, 4, decision.action.rawValue, -1, csqlite_transient())
                sqlite3_bind_text(statement, 5, decision.reason, -1, csqlite_transient())
                sqlite3_bind_double(statement, 6, decision.latencyMilliseconds)
                guard sqlite3_step(statement) == SQLITE_DONE else { throw fail("insert decision") }
            }
            let mark = try prepare("UPDATE events SET handled = ? WHERE id = ?")
            defer { sqlite3_finalize(mark) }
            sqlite3_bind_int(mark, 1, state.rawValue)
            sqlite3_bind_int64(mark, 2, eventID)
            guard sqlite3_step(mark) == SQLITE_DONE else { throw fail("mark handled") }
            try execute("COMMIT")
        } catch {
            _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Events, oldest first, optionally since a time and for one device. Rows that are not
    /// valid events are left out (`unfinished()` reports them).
    public func events(since: Double? = nil, device: PCIAddress? = nil, unhandledOnly: Bool = false) throws(Error)
        -> [Entry]
    {
        var sql = "SELECT id, time, device, kind, online, count, source, handled FROM events WHERE time >= ?"
        if device != nil { sql += " AND device = ?" }
        if unhandledOnly { sql += " AND handled IN (0, 3)" }
        sql += " ORDER BY id"
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, since ?? 0)
        if let device { sqlite3_bind_text(statement, 2, device.description, -1, csqlite_transient()) }
        var result: [Entry] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            guard case .success(let event) = row(statement) else { continue }
            result.append(Entry(id: sqlite3_column_int64(statement, 0), event: event, state: state(statement, 7)))
        }
        return result
    }

    /// Every event not handled yet, oldest first: `pending` and `inProgress` ones, each with
    /// the event or why its row is not one.
    public func unfinished() throws(Error) -> [Unfinished] {
        let statement = try prepare(
            "SELECT id, time, device, kind, online, count, source, handled FROM events WHERE handled IN (0, 3) ORDER BY id"
        )
        defer { sqlite3_finalize(statement) }
        var result: [Unfinished] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            // Bounds are checked here, not for readers: `vfioctl aer log` shows such a row.
            let event = row(statement).flatMap { event -> Result<AEREvent, InvalidRow> in
                do { try event.checkBounds() } catch { return .failure(InvalidRow(description: "\(error)")) }
                return .success(event)
            }
            result.append(Unfinished(id: sqlite3_column_int64(statement, 0), state: state(statement, 7), event: event))
        }
        return result
    }

    private func state(_ statement: OpaquePointer, _ column: Int32) -> State {
        State(rawValue: sqlite3_column_int(statement, column)) ?? .poisoned
    }

    /// The event of a row of `SELECT id, time, device, kind, online, count, source, …`.
    private func row(_ statement: OpaquePointer) -> Result<AEREvent, InvalidRow> {
        let id = sqlite3_column_int64(statement, 0)
        guard let address = PCIAddress(text(statement, 2)) else {
            return .failure(
                InvalidRow(description: "event \(id): device \"\(text(statement, 2).prefix(64))\" is not a PCI address")
            )
        }
        guard let kind = AEREvent.Kind(rawValue: text(statement, 3)) else {
            return .failure(InvalidRow(description: "event \(id): unknown kind \"\(text(statement, 3).prefix(64))\""))
        }
        guard let source = AEREvent.Source(rawValue: text(statement, 6)) else {
            return .failure(InvalidRow(description: "event \(id): unknown source \"\(text(statement, 6).prefix(64))\""))
        }
        let online: Bool? =
            sqlite3_column_type(statement, 4) == SQLITE_NULL ? nil : sqlite3_column_int(statement, 4) == 1
        return .success(
            AEREvent(
                time: sqlite3_column_double(statement, 1), device: address, kind: kind, deviceOnline: online,
                count: Int(sqlite3_column_int64(statement, 5)), source: source))
    }

    public func decisions(since: Double? = nil) throws(Error) -> [Decision] {
        let statement = try prepare(
            "SELECT event, time, domain, action, reason, latency_ms FROM decisions WHERE time >= ? ORDER BY id")
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, since ?? 0)
        var result: [Decision] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            result.append(
                Decision(
                    eventID: sqlite3_column_int64(statement, 0), time: sqlite3_column_double(statement, 1),
                    domain: text(statement, 2),
                    action: DecisionAction(rawValue: text(statement, 3)), reason: text(statement, 4),
                    latencyMilliseconds: sqlite3_column_double(statement, 5)))
        }
        return result
    }

    /// Totals for `vfioctl aer stats`, summed by SQLite rather than by loading every row:
    /// errors per "DEVICE KIND" (a counter event adds every error it covers) and decisions per
    /// action, since a time.
    public func totals(since: Double? = nil) throws(Error) -> (errors: [String: Int], decisions: [String: Int]) {
        (
            // TOTAL, not SUM: a float that cannot overflow, whatever rows the journal holds.
            try groupedCounts(
                "SELECT device || ' ' || kind, TOTAL(count) FROM events WHERE time >= ? GROUP BY device, kind", since),
            try groupedCounts("SELECT action, COUNT(*) FROM decisions WHERE time >= ? GROUP BY action", since)
        )
    }

    private func groupedCounts(_ sql: String, _ since: Double?) throws(Error) -> [String: Int] {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, since ?? 0)
        var result: [String: Int] = [:]
        while sqlite3_step(statement) == SQLITE_ROW {
            // sqlite3_column_int64 converts a float out of range to the nearest bound.
            result[text(statement, 0)] = Int(sqlite3_column_int64(statement, 1))
        }
        return result
    }

    /// Each guest's latest decision with the device of the event behind it: what the watchdog
    /// had done to every guest when it last stopped (taken down, restart scheduled, started…).
    public func latestGuestDecisions() throws(Error) -> [(decision: Decision, device: PCIAddress)] {
        let statement = try prepare(
            """
            SELECT d.event, d.time, d.domain, d.action, d.reason, d.latency_ms, e.device FROM decisions d JOIN events e ON e.id = d.event
            WHERE d.id IN (SELECT MAX(id) FROM decisions WHERE domain <> '-' GROUP BY domain) ORDER BY d.id
            """)
        defer { sqlite3_finalize(statement) }
        var result: [(decision: Decision, device: PCIAddress)] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            guard let device = PCIAddress(text(statement, 6)) else { continue }
            let decision = Decision(
                eventID: sqlite3_column_int64(statement, 0), time: sqlite3_column_double(statement, 1),
                domain: text(statement, 2),
                action: DecisionAction(rawValue: text(statement, 3)), reason: text(statement, 4),
                latencyMilliseconds: sqlite3_column_double(statement, 5))
            result.append((decision, device))
        }
        return result
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count`): past it, writes fail
    /// with SQLITE_FULL exactly as on a full disk. For tests of the full-disk path.
    public func limitSize(pages: Int) throws(Error) {
        try execute("PRAGMA max_page_count = \(pages)")
    }

    /// Keeps at most `kibibytes` of pages in SQLite's cache, so a file changed behind the
    /// connection's back is read (and found corrupt) at once. For tests of that path.
    public func limitCache(kibibytes: Int) throws(Error) {
        try execute("PRAGMA cache_size = -\(kibibytes)")
    }

    private func text(_ statement: OpaquePointer, _ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: pointer)
    }
}
