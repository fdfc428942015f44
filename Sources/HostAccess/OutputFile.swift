import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A file another program reads while vfioctl rewrites it: node_exporter's textfile collector
/// (`/var/lib/prometheus/node-exporter/*.prom`), nfd-worker's local feature files
/// (`/etc/kubernetes/node-feature-discovery/features.d/`). Readers must see the old file or the
/// new one, never half: the bytes go to a hidden temporary name in the same directory, are
/// synced, and `rename(2)` puts them in place. The temporary name starts with a dot and does
/// not end in `.prom`, so neither reader picks it up (nfd-worker skips dot files; the textfile
/// collector reads `*.prom` only).
public enum OutputFile {
    /// Replaces `path` (relative to the working directory or absolute) with `bytes`, mode
    /// `mode`. The directory must exist; what is at `path` now must be a regular file or
    /// nothing: a symbolic link, a directory or a FIFO is refused and left as it is.
    public static func replace(_ path: String, with bytes: [UInt8], mode: Int = 0o644) throws(HostAccessError) {
        let file = FilePath(path)
        guard let name = file.lastComponent?.string, name != ".", name != ".." else {
            throw HostAccessError(.invalidInput, "\(path) names no file to write", path: path)
        }
        let parent = file.removingLastComponent()
        let directoryPath = parent.isEmpty ? "." : parent.string
        let directory = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            let error = Errno(rawValue: errno)
            var failure = HostAccessError.system(error, "open", path: directoryPath)
            failure.message =
                "cannot open the directory \(directoryPath) for \(name): \(error)"
                + (error == .noSuchFileOrDirectory ? " (create it, or install the program that reads it)" : "")
            throw failure
        }
        defer { close(directory) }
        var info = stat()
        if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw HostAccessError(
                .notRegularFile,
                "\(path) is \(RootDirectory.kindName(info.st_mode)), not a file vfioctl replaces; "
                    + "move it away or choose another --output (nothing was written)",
                path: path, syscall: "fstatat")
        }
        let temporary = HostWriter.temporaryName(of: name)
        _ = unlinkat(directory, temporary, 0)
        try HostWriter.writeNew(bytes, mode: mode, as: temporary, in: directory, path: file)
        guard renameat(directory, temporary, directory, name) == 0 else {
            let error = Errno(rawValue: errno)
            _ = unlinkat(directory, temporary, 0)
            throw .system(error, "rename to", path: path)
        }
        _ = fsync(directory)
    }
}
