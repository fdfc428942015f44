import CSQLite
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// The AER journal: every event is written (SQLite, WAL, synchronous=FULL) before anything is
/// done about it, and every decision after. An event stays unhandled until its decisions are
/// written, so a restarted daemon finishes what a crash interrupted and never acts twice.
public final class AERJournal {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public var code: Int32
        public var message: String
        /// SQLITE_FULL: the disk is full.
        public var diskFull: Bool { code == SQLITE_FULL }
        public var description: String { message }
    }

    public struct Entry: Sendable {
        public var id: Int64
        public var event: AEREvent
        public var handled: Bool
    }

    public struct Decision: Sendable {
        public var eventID: Int64
        public var time: Double
        public var domain: String
        public var action: String
        public var reason: String
        /// Milliseconds from the event's arrival to the action (libvirt's own time excluded).
        public var latencyMilliseconds: Double

        public init(
            eventID: Int64, time: Double, domain: String, action: String, reason: String, latencyMilliseconds: Double
        ) {
            self.eventID = eventID
            self.time = time
            self.domain = domain
            self.action = action
            self.reason = reason
            self.latencyMilliseconds = latencyMilliseconds
        }
    }

    private let db: OpaquePointer
    public let path: String

    /// Opens (creating it unless `readOnly`) the journal at `path`. Readers (`vfioctl aer log`)
    /// open it read-only and get a clear error when vfio-aerd has not written one yet.
    public init(path: String, readOnly: Bool = false) throws(Error) {
        var handle: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_FULLMUTEX
        let opened = sqlite3_open_v2(path, &handle, flags, nil)
        guard opened == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            let hint = readOnly ? " (vfio-aerd creates it when it starts; is --journal the daemon's?)" : ""
            throw Error(code: opened, message: "cannot open the AER journal \(path): \(message)\(hint)")
        }
        db = handle
        self.path = path
        sqlite3_busy_timeout(db, 5000)
        if readOnly {
            // A file that is not a journal fails here rather than on the first query.
            try execute("SELECT 1 FROM events LIMIT 0; SELECT 1 FROM decisions LIMIT 0")
            return
        }
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
    }

    deinit { sqlite3_close(db) }

    private func fail(_ what: String) -> Error {
        Error(
            code: sqlite3_errcode(db), message: "AER journal \(path): \(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    private func execute(_ sql: String) throws(Error) {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw fail(sql.prefix(40) + "…") }
    }

    private func prepare(_ sql: String) throws(Error) -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw fail("prepare")
        }
        return statement
    }

    /// Appends an event durably; returns its id.
    @discardableResult
    public func append(_ event: AEREvent) throws(Error) -> Int64 {
        let statement = try prepare("INSERT INTO events(time, device, kind, online, count, source) VALUES(?,?,?,?,?,?)")
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
        guard sqlite3_step(statement) == SQLITE_DONE else { throw fail("insert event") }
        return sqlite3_last_insert_rowid(db)
    }

    /// Records the decisions taken for an event and marks it handled, in one transaction.
    public func record(_ decisions: [Decision], handling eventID: Int64) throws(Error) {
        try execute("BEGIN IMMEDIATE")
        do throws(Error) {
            for decision in decisions {
                let statement = try prepare(
                    "INSERT INTO decisions(event, time, domain, action, reason, latency_ms) VALUES(?,?,?,?,?,?)")
                defer { sqlite3_finalize(statement) }
                sqlite3_bind_int64(statement, 1, decision.eventID)
                sqlite3_bind_double(statement, 2, decision.time)
                sqlite3_bind_text(statement, 3, decision.domain, -1, csqlite_transient())
                sqlite3_bind_text(statement, 4, decision.action, -1, csqlite_transient())
                sqlite3_bind_text(statement, 5, decision.reason, -1, csqlite_transient())
                sqlite3_bind_double(statement, 6, decision.latencyMilliseconds)
                guard sqlite3_step(statement) == SQLITE_DONE else { throw fail("insert decision") }
            }
            let mark = try prepare("UPDATE events SET handled = 1 WHERE id = ?")
            defer { sqlite3_finalize(mark) }
            sqlite3_bind_int64(mark, 1, eventID)
            guard sqlite3_step(mark) == SQLITE_DONE else { throw fail("mark handled") }
            try execute("COMMIT")
        } catch {
            _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Events, oldest first, optionally since a time and for one device.
    public func events(since: Double? = nil, device: PCIAddress? = nil, unhandledOnly: Bool = false) throws(Error)
        -> [Entry]
    {
        var sql = "SELECT id, time, device, kind, online, count, source, handled FROM events WHERE time >= ?"
        if device != nil { sql += " AND device = ?" }
        if unhandledOnly { sql += " AND handled = 0" }
        sql += " ORDER BY id"
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, since ?? 0)
        if let device { sqlite3_bind_text(statement, 2, device.description, -1, csqlite_transient()) }
        var result: [Entry] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            guard let address = PCIAddress(text(statement, 2)), let kind = AEREvent.Kind(rawValue: text(statement, 3)),
                let source = AEREvent.Source(rawValue: text(statement, 6))
            else { continue }
            let online: Bool? =
                sqlite3_column_type(statement, 4) == SQLITE_NULL ? nil : sqlite3_column_int(statement, 4) == 1
            result.append(
                Entry(
                    id: sqlite3_column_int64(statement, 0),
                    event: AEREvent(
                        time: sqlite3_column_double(statement, 1), device: address, kind: kind, deviceOnline: online,
                        count: Int(sqlite3_column_int64(statement, 5)), source: source),
                    handled: sqlite3_column_int(statement, 7) == 1))
        }
        return result
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
                    action: text(statement, 3), reason: text(statement, 4),
                    latencyMilliseconds: sqlite3_column_double(statement, 5)))
        }
        return result
    }

    /// Totals for `vfioctl aer stats`, summed by SQLite rather than by loading every row:
    /// errors per "DEVICE KIND" (a counter event adds every error it covers) and decisions per
    /// action, since a time.
    public func totals(since: Double? = nil) throws(Error) -> (errors: [String: Int], decisions: [String: Int]) {
        (
            try groupedCounts(
                "SELECT device || ' ' || kind, SUM(count) FROM events WHERE time >= ? GROUP BY device, kind", since),
            try groupedCounts("SELECT action, COUNT(*) FROM decisions WHERE time >= ? GROUP BY action", since)
        )
    }

    private func groupedCounts(_ sql: String, _ since: Double?) throws(Error) -> [String: Int] {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_double(statement, 1, since ?? 0)
        var result: [String: Int] = [:]
        while sqlite3_step(statement) == SQLITE_ROW {
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
                action: text(statement, 3), reason: text(statement, 4),
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

    private func text(_ statement: OpaquePointer, _ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: pointer)
    }
}
