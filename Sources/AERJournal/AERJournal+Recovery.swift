import AEREvents
import CSQLite

#if canImport(Glibc)
    import Glibc
#endif

extension AERJournal {
    /// Opens vfio-aerd's journal so that the daemon always gets one. When the file at `path` is
    /// not a usable journal (garbage, truncated, another schema, a directory) it is renamed to
    /// `PATH.corrupt-YYYYMMDDTHHMMSSZ` (its `-wal` and `-shm` with it, so the pair can still be
    /// examined) and a fresh journal is started at `path`. When even that fails (a read-only
    /// disk, no rights), the journal is kept in memory until the daemon restarts. Every step is
    /// told to `log`, naming the files. Throws only when not even memory can hold a journal.
    public static func openForDaemon(path: String, now: Double, log: (String) -> Void) throws(Error) -> AERJournal {
        do {
            return try AERJournal(path: path)
        } catch {
            guard error.corrupt else { return try inMemory(path: path, because: "\(error)", log: log) }
            do {
                let aside = try moveAside(path, now: now)
                log("the AER journal \(path) is unusable (\(error)); kept as \(aside), starting a new journal")
            } catch {
                return try inMemory(path: path, because: "\(error)", log: log)
            }
            do {
                return try AERJournal(path: path)
            } catch {
                return try inMemory(path: path, because: "\(error)", log: log)
            }
        }
    }

    /// Renames the journal at `path` (and its `-wal`, `-shm` and `-journal` files) to
    /// `PATH.corrupt-TIMESTAMP` (`-2`, `-3`… when taken); returns the new name.
    public static func moveAside(_ path: String, now: Double) throws(Error) -> String {
        var base = "\(path).corrupt-\(utcStamp(now))"
        var attempt = 1
        while exists(base) {
            attempt += 1
            base = "\(path).corrupt-\(utcStamp(now))-\(attempt)"
        }
        guard rename(path, base) == 0 else {
            throw Error(
                code: SQLITE_CANTOPEN,
                message:
                    "cannot move the unusable AER journal \(path) aside to \(base): \(String(cString: strerror(errno)))",
                corrupt: false)
        }
        for suffix in ["-wal", "-shm", "-journal"] where exists(path + suffix) {
            _ = rename(path + suffix, base + suffix)
        }
        return base
    }

    /// Moves the `-wal`, `-shm` and `-journal` files at `path` to `PATH.moved-TIMESTAMP-wal`…
    /// after the journal itself was deleted or renamed: SQLite does not checkpoint a moved
    /// database on close, and a new journal at `path` would otherwise read the old one's log.
    /// Returns the files' new names.
    public static func moveSidecarsAside(_ path: String, now: Double) -> [String] {
        var base = "\(path).moved-\(utcStamp(now))"
        var attempt = 1
        while ["-wal", "-shm", "-journal"].contains(where: { exists(base + $0) }) {
            attempt += 1
            base = "\(path).moved-\(utcStamp(now))-\(attempt)"
        }
        return ["-wal", "-shm", "-journal"].compactMap { suffix in
            exists(path + suffix) && rename(path + suffix, base + suffix) == 0 ? base + suffix : nil
        }
    }

    private static func inMemory(path: String, because reason: String, log: (String) -> Void) throws(Error)
        -> AERJournal
    {
        log(
            "no AER journal at \(path) (\(reason)); journaling in memory only until vfio-aerd restarts, guests are still protected"
        )
        return try AERJournal(path: path, inMemory: true)
    }

    private static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// `YYYYMMDDTHHMMSSZ` for a time in seconds since the epoch.
    static func utcStamp(_ time: Double) -> String {
        var seconds = time_t(time.isFinite ? max(0, min(time, 1e11)) : 0)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}
