import Actions
import ArgumentParser
import ConfigFile
import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - apply --check

extension VFIOCtl.Apply {
    /// `apply --check FILE`: every `[[expect-group]]` against the host's kernel groups.
    func checkGroups() throws {
        let desired = try DesiredStateFile.parse(path: file)
        guard !desired.expectedGroups.isEmpty else {
            throw CLIError(
                "\(file) has no [[expect-group]]: nothing to check (`vfioctl apply --pin \(file)` writes them)")
        }
        let model = try SysfsHostReader(roots: action.roots).read(
            source: action.root.map { "root \($0)" } ?? "live host")
        let found = desired.groupMismatches(in: model)
        if output.json {
            let items: [JSON] = found.map { item in
                .object([
                    ("expectation", .string(item.expectation.source)),
                    ("kind", .string(item.mismatch.kind)),
                    ("address", JSON.optional(item.mismatch.address?.description)),
                    ("message", .string(item.mismatch.description)),
                ])
            }
            print(
                JSON.object([
                    ("file", .string(file)), ("source", .string(model.source)),
                    ("expectations", .int(desired.expectedGroups.count)), ("holds", .bool(found.isEmpty)),
                    ("mismatches", .array(items)),
                ]).rendered(), terminator: "")
        } else if found.isEmpty {
            print("\(desired.expectedGroups.count) expected group(s) hold on \(model.source)")
        } else {
            for item in found { print(item.mismatch.line(for: item.expectation).terminalSafe) }
        }
        if !found.isEmpty { throw ExitCode(1) }
    }
}

extension GroupMismatch {
    /// `kind` in `apply --check --json`.
    var kind: String {
        switch self {
        case .added: "added"
        case .leftGroup: "left-group"
        case .idsChanged: "ids-changed"
        case .missing: "missing"
        case .noGroup: "no-group"
        case .cannotCheck: "cannot-check"
        case .renumbered: "renumbered"
        }
    }
}

// MARK: - apply --pin

extension VFIOCtl.Apply {
    /// `apply --pin FILE`: appends an `[[expect-group]]` for each group the file's other
    /// entries use, as the kernel has it now. An existing pin that disagrees stops it.
    func pinGroups() throws {
        let path = absolutePath(file)
        try PinnedFile.requireRegularFile(path, shown: file)
        let bytes = try DesiredStateFile.readBytes(file)
        let desired = try DesiredStateFile.parse(DesiredStateFile.decode(bytes, name: file), name: file)
        let model = try SysfsHostReader(roots: action.roots).read(
            source: action.root.map { "root \($0)" } ?? "live host")
        guard model.kernelGroups != nil else {
            throw CLIError("\(model.source) has no kernel IOMMU groups: nothing to pin")
        }
        let (groups, numbered, unresolved) = desired.targets(in: model)
        for target in unresolved {
            StandardError.write("vfioctl: \(target): in no IOMMU group on \(model.source), not pinned\n")
        }
        let stamp = PinnedFile.utcNow()
        var appended: [(group: Int, expectation: GroupExpectation)] = []
        var already: [Int] = []
        var conflicts: [String] = []
        for group in groups.sorted() {
            let current = GroupExpectation(
                group: group, in: model, byNumber: numbered.contains(group), source: "host")
            let members = Set(current.members)
            let existing = desired.expectedGroups.filter { $0.concerns(members, in: model) }
            if existing.contains(where: { $0.agrees(with: current) }) {
                already.append(group)
            } else if existing.isEmpty {
                appended.append((group, current))
            } else {
                for pin in existing {
                    let differences = pin.mismatches(in: model).map(\.description)
                    conflicts.append(
                        "group \(group): [[expect-group]] at \(pin.source) disagrees with the host"
                            + (differences.isEmpty ? "" : ": " + differences.joined(separator: "; ")))
                }
            }
        }
        if !conflicts.isEmpty {
            throw CLIError(
                "not pinning: \(file) already expects other groups; nothing was written.\n"
                    + conflicts.map { "  " + $0 }.joined(separator: "\n")
                    + "\n  check the groups (`vfioctl apply --check \(file)`), then edit or remove those entries")
        }
        let text = appended.map { Self.block(group: $0.group, $0.expectation, stamp: stamp) }.joined()
        var written = false
        if !appended.isEmpty && !action.dryRun {
            var addition = Array(text.utf8)
            if let last = bytes.last, last != UInt8(ascii: "\n") { addition.insert(UInt8(ascii: "\n"), at: 0) }
            // What is written must read back as the same file with the new entries.
            _ = try DesiredStateFile.parse(
                DesiredStateFile.decode(bytes + addition, name: file), name: file)
            try PinnedFile.append(addition, to: path, expecting: bytes, shown: file)
            written = true
        }
        if output.json {
            print(
                JSON.object([
                    ("file", .string(file)), ("written", .bool(written)), ("dryRun", .bool(action.dryRun)),
                    (
                        "appended",
                        .array(
                            appended.map { item in
                                .object([
                                    ("group", .int(item.group)),
                                    ("members", .array(item.expectation.members.map { .string($0.description) })),
                                    ("ids", .array((item.expectation.ids ?? []).map { .string($0.description) })),
                                ])
                            })
                    ),
                    ("alreadyPinned", .array(already.map(JSON.int))),
                    ("notPinned", .array(unresolved.map(JSON.string))),
                ]).rendered(), terminator: "")
            return
        }
        for group in already { print("group \(group): already pinned") }
        if appended.isEmpty {
            print("nothing to append to \(file.terminalSafe)")
        } else {
            print(action.dryRun ? "would append to \(file.terminalSafe):" : "appended to \(file.terminalSafe):")
            print(text, terminator: "")
        }
    }

    /// One `[[expect-group]]` block with the comment saying who wrote it and when.
    static func block(group: Int, _ expectation: GroupExpectation, stamp: String) -> String {
        let members = expectation.members.map { "\"\($0)\"" }.joined(separator: ", ")
        let ids = (expectation.ids ?? []).map { "\"\($0)\"" }.joined(separator: ", ")
        return """

            # written by vfioctl apply --pin on \(stamp): kernel IOMMU group \(group) as it was then
            [[expect-group]]
            members = [\(members)]
            ids = [\(ids)]\(expectation.number.map { "\ngroup = \($0)" } ?? "")

            """
    }
}

/// The user's desired-state file that `apply --pin` rewrites: a regular file (not a
/// symbolic link, FIFO or device), replaced atomically (a temporary file in the same
/// directory, then rename(2)), its old bytes kept as they were.
enum PinnedFile {
    /// Now as `2026-11-30T15:55:28Z`.
    static func utcNow() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    static func requireRegularFile(_ path: String, shown: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            let error = errno
            throw CLIError("cannot read \(shown): \(String(cString: strerror(error)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK:
            throw CLIError(
                "\(shown) is a symbolic link: --pin replaces the file, so give the file itself (`readlink -f \(shown)`)"
            )
        default:
            throw CLIError(
                "\(shown) is not a regular file (a FIFO, device or directory): --pin only writes regular files")
        }
    }

    /// Writes `old + addition` to a new file next to `path`, with `path`'s mode, and renames
    /// it over `path`. Refuses when `path` no longer holds `old` (changed meanwhile).
    static func append(_ addition: [UInt8], to path: String, expecting old: [UInt8], shown: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw CLIError("\(shown) changed while vfioctl read it; nothing was written")
        }
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        let temporary = directory + "/.\(name).vfioctl-pin-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, status.st_mode & 0o7777)
        guard fd >= 0 else {
            let error = errno
            throw CLIError("cannot create \(temporary): \(String(cString: strerror(error))); nothing was written")
        }
        var removeTemporary = true
        defer {
            if removeTemporary { unlink(temporary) }
        }
        let bytes = old + addition
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = errno
                close(fd)
                throw CLIError("cannot write \(temporary): \(String(cString: strerror(error))); \(shown) is unchanged")
            }
            done += n
        }
        // The user's file keeps its owner and mode (a root-run --pin must not take it over).
        _ = fchown(fd, status.st_uid, status.st_gid)
        _ = fchmod(fd, status.st_mode & 0o7777)
        guard fsync(fd) == 0 else {
            let error = errno
            close(fd)
            throw CLIError("cannot sync \(temporary): \(String(cString: strerror(error))); \(shown) is unchanged")
        }
        close(fd)
        // The file must still hold what was read: a concurrent edit is not overwritten.
        guard let now = try? DesiredStateFile.readBytes(path), now == old else {
            throw CLIError("\(shown) changed while vfioctl was pinning; nothing was written, run it again")
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            throw CLIError(
                "cannot rename \(temporary) to \(shown): \(String(cString: strerror(error))); \(shown) is unchanged")
        }
        removeTemporary = false
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}
