import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A file another program reads while vfioctl rewrites it: node_exporter's textfile collector
/// (`/var/lib/prometheus/node-exporter/*.prom`), nfd-worker's local feature files
/// (`/etc/kubernetes/node-feature-discovery/features.d/`). Readers must see the old file or the
/// new one, never half: the bytes go to a hidden temporary file in the same directory
/// (`.vfioctl-PID-RANDOM.tmp`, its own for each run), are synced, and `rename(2)` puts them in
/// place. The temporary name starts with a dot and does not end in `.prom`, so neither reader
/// picks it up (nfd-worker skips dot files; the textfile collector reads `*.prom` only), and it
/// has a fixed length, so any file name the directory takes can be written.
public enum OutputFile {
    /// Replaces `path` (relative to the working directory or absolute) with `bytes`, mode
    /// `mode`. The directory must exist; what is at `path` now must be a regular file or
    /// nothing: a symbolic link, a directory or a FIFO is refused and left as it is.
    public static func replace(_ path: String, with bytes: [UInt8], mode: Int = 0o644) throws(HostAccessError) {
        let file = FilePath(path)
        guard let name = file.lastComponent?.string, name != ".", name != "..", !path.hasSuffix("/") else {
            throw HostAccessError(.invalidInput, "\(path) names no file to write (a directory?)", path: path)
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
        // One name per run (O_EXCL): two runs at once (the timer and an operator) each rename
        // their own complete file, and never unlink or rename the other's half-written one.
        let temporary = ".vfioctl-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16)).tmp"
        try HostWriter.writeNew(bytes, mode: mode, as: temporary, in: directory, path: file)
        guard renameat(directory, temporary, directory, name) == 0 else {
            let error = Errno(rawValue: errno)
            _ = unlinkat(directory, temporary, 0)
            throw .system(error, "rename to", path: path)
        }
        _ = fsync(directory)
    }
}
