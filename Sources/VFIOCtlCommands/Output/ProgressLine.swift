import HostAccess

#if canImport(Glibc)
    import Glibc
#endif

/// One line of progress on standard error for waits a user would otherwise stare at (VFs
/// appearing, hugepage compaction, VFIO mapping, snapshot capture): only when standard error
/// is a terminal, never with `--json`, so scripts and logs see nothing of it. Each update
/// rewrites the line; `finish` ends it.
struct ProgressLine {
    let enabled: Bool

    init(json: Bool) { enabled = !json && isatty(2) == 1 }

    func update(_ text: String) {
        guard enabled else { return }
        StandardError.write("\r\u{1b}[K" + text)
    }

    /// Clears the line, leaving `text` (if any) on a line of its own.
    func finish(_ text: String? = nil) {
        guard enabled else { return }
        StandardError.write("\r\u{1b}[K" + (text.map { $0 + "\n" } ?? ""))
    }
}
