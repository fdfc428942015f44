import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Seconds on the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`): for durations and
/// deadlines, never for timestamps.
public enum MonotonicClock {
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// Text for the user on standard error, written whole with one `write(2)` (unbuffered, so it
/// lands in order with the child processes' output and in journald as one line).
public enum StandardError {
    public static func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, bytes.count) }
    }
}

/// A fresh, private directory under `$TMPDIR` (or /tmp) from `mkdtemp(3)`.
public enum TemporaryDirectory {
    public static func make(prefix: String) throws(HostAccessError) -> FilePath {
        let root = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let pattern = FilePath(root).appending("\(prefix)-XXXXXX").string
        var template = Array(pattern.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw .system(Errno(rawValue: errno), "mkdtemp", path: pattern)
        }
        return FilePath(String(cString: made))
    }
}
