import HostAccess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The journal of one action: a file of its own in `STATE/journals/`, created with
/// `O_EXCL` (no later action can overwrite it), appended one record per line and
/// `fsync`ed before the host change each record protects. It is removed only when the
/// action completed or was undone completely; a crash leaves it for `vfioctl recover`.
public final class ActionJournal {
    public let path: FilePath
    public private(set) var records: [JournalRecord]
    private var fd: Int32

    /// Creates a new journal whose first record is `.action(words)`, durably (the file and
    /// its directory entry are on disk before this returns).
    init(directory: FilePath, action: String) throws(ActionError) {
        do {
            try FileTree.makeDirectories(directory)
        } catch {
            throw ActionError(
                .cannotJournal, "cannot create the journal directory \(directory): \(error); nothing was changed")
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = String(Int(now.tv_sec) * 1_000_000_000 + Int(now.tv_nsec))
        let name = String(repeating: "0", count: max(0, 20 - stamp.count)) + stamp + "-\(getpid()).journal"
        path = directory.appending(name)
        fd = path.withPlatformString { open($0, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600) }
        records = []
        guard fd >= 0 else {
            throw ActionError(
                .cannotJournal,
                "cannot create the journal \(path): \(Errno(rawValue: errno)); nothing was changed")
        }
        do {
            try append(.action(action))
        } catch {
            close(fd)
            fd = -1
            _ = path.withPlatformString { unlink($0) }
            throw error
        }
        let directoryFD = directory.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends `record` and waits until it is on disk. Fails (changing nothing on the host)
    /// when the disk is full, the file size limit is reached or the directory is read-only.
    func append(_ record: JournalRecord) throws(ActionError) {
        do {
            try FileTree.writeAll(Array((record.line + "\n").utf8), to: fd)
        } catch {
            throw ActionError(
                .cannotJournal, "cannot write the journal \(path): \(error); the change it protects was not made")
        }
        guard fsync(fd) == 0 else {
            throw ActionError(
                .cannotJournal, "cannot sync the journal \(path): \(Errno(rawValue: errno)); the change was not made")
        }
        records.append(record)
    }

    /// The action is over (done, or undone completely): the journal goes.
    func remove() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        _ = path.withPlatformString { unlink($0) }
    }

    // MARK: - Reading journals left behind

    /// A journal found on disk: its file and its records, oldest first.
    public struct Unfinished: Sendable {
        public var path: FilePath
        public var action: String
        public var records: [JournalRecord]
    }

    /// Every journal in `directory` (and the single `journal` file of vfioctl 0.1 in
    /// `legacyDirectory`), newest first. A line that is not a record is an error naming the
    /// file and line: recovery must not guess.
    static func unfinished(in directory: FilePath, legacy: FilePath?) throws -> [Unfinished] {
        var files: [FilePath] = []
        let root = RootedFileSystem(root: directory)
        for name in try root.list(".") ?? [] where name.hasSuffix(".journal") && !name.hasPrefix(".") {
            files.append(directory.appending(name))
        }
        files.sort { $0.string > $1.string }
        if let legacy, FileTree.kind(of: legacy) == .file { files.append(legacy) }
        return try files.map { file in
            guard let text = try RootedFileSystem(root: "/").readText(file.string, limit: 1 << 20) else {
                return Unfinished(path: file, action: "(vanished)", records: [])
            }
            var records: [JournalRecord] = []
            for (index, line) in text.split(separator: "\n").enumerated() {
                switch JournalRecord.parse(line) {
                case .success(let record): records.append(record)
                case .failure(let error):
                    throw ActionError(
                        .invalidRequest,
                        "\(file):\(index + 1): \(error.reason); the journal is not vfioctl's or is damaged: "
                            + "check the host by hand and remove the file")
                }
            }
            var action = "(unknown action)"
            if case .action(let words) = records.first { action = words }
            return Unfinished(path: file, action: action, records: records)
        }
    }
}
