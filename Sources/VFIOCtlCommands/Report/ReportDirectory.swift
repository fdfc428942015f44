#if canImport(Glibc)
    import Glibc
#endif

/// The snapshots of `vfioctl report DIR`: the regular `*.tar.gz` / `*.tgz` files (any case)
/// directly in DIR, by name. Every entry is looked at with `fstatat(AT_SYMLINK_NOFOLLOW)`
/// only, by the raw name `readdir` gave (`ReportFileName`): a symbolic link is not followed
/// and a FIFO, socket or device is never opened, each skipped with a note.
struct ReportDirectory {
    /// A file of DIR that looked like a snapshot but was left alone, and why.
    struct Skipped: Equatable {
        var file: ReportFileName
        var reason: String
        /// It could not even be looked at (`fstatat` failed): a snapshot that may be missing
        /// from the report, which makes the exit status 1.
        var unreadable = false
    }

    let path: String
    /// File names of the snapshots, sorted.
    private(set) var snapshots: [ReportFileName] = []
    private(set) var skipped: [Skipped] = []
    /// Entries whose names are not `*.tar.gz`/`*.tgz` (other files, subdirectories): counted only.
    private(set) var ignored = 0

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    init(_ path: String) throws(Problem) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Problem(description: "\(path): \(String(cString: strerror(errno))); give the directory of snapshots")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw Problem(
                description: "\(path) is not a directory; give the directory that holds the snapshots "
                    + "(for one snapshot use `vfioctl inspect --snapshot \(path)`)")
        }
        guard let directory = opendir(path) else {
            throw Problem(description: "\(path): cannot list it: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var names: [ReportFileName] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { ReportFileName(bytes: Array($0.prefix { $0 != 0 })) }
            if name.bytes != [0x2e] && name.bytes != [0x2e, 0x2e] { names.append(name) }
        }
        for name in names.sorted() {
            guard name.isSnapshotName else {
                ignored += 1
                continue
            }
            var entry = stat()
            guard fstatat(dirfd(directory), name.cString, &entry, AT_SYMLINK_NOFOLLOW) == 0 else {
                skipped.append(
                    Skipped(
                        file: name, reason: "cannot stat it: \(String(cString: strerror(errno)))", unreadable: true))
                continue
            }
            switch entry.st_mode & S_IFMT {
            case S_IFREG: snapshots.append(name)
            case S_IFLNK:
                skipped.append(
                    Skipped(file: name, reason: "a symbolic link, not followed (copy the snapshot into the directory)"))
            case S_IFDIR: skipped.append(Skipped(file: name, reason: "a directory, not a snapshot archive"))
            case S_IFIFO: skipped.append(Skipped(file: name, reason: "a FIFO, not opened"))
            case S_IFSOCK: skipped.append(Skipped(file: name, reason: "a socket, not opened"))
            default: skipped.append(Skipped(file: name, reason: "a device or special file, not opened"))
            }
        }
    }

    /// `DIR/name` for display (the name escaped).
    func path(of name: ReportFileName) -> String {
        path.hasSuffix("/") ? path + name.description : path + "/" + name.description
    }

    /// `DIR/name` as bytes, NUL-terminated, for `open`.
    func rawPath(of name: ReportFileName) -> [CChar] {
        let directory = Array(path.utf8CString.dropLast())
        return directory + (path.hasSuffix("/") ? [] : [CChar(bitPattern: 0x2f)]) + name.cString
    }
}
