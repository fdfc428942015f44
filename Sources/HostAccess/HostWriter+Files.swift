import Logging
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Configuration files vfioctl owns (`etc/udev/rules.d/…`, `etc/modprobe.d/…`): written whole
/// and atomically, as a package manager would, never edited in place.
extension HostWriter {
    /// What is at a configuration file's path before vfioctl writes it.
    public enum FileState: Sendable, Equatable {
        case missing
        /// A regular file with these bytes and permission bits.
        case file([UInt8], mode: Int)
    }

    /// The name a file is written under before `rename(2)` puts it in place: fixed, so that
    /// undoing an interrupted write (`vfioctl recover`) removes a leftover one, and hidden,
    /// so neither udev (`*.rules`) nor modprobe (`*.conf`) reads it.
    public static func temporaryName(of name: String) -> String { ".\(name).vfioctl-tmp" }

    /// What is at `relative` now. A symbolic link (even one that points inside the root), a
    /// FIFO, a directory or any other non-regular file is refused: vfioctl replaces only
    /// regular files. A missing parent directory is refused too (udev or kmod is not there).
    public static func fileState(_ relative: String, in fs: RootedFileSystem, limit: Int) throws(HostAccessError)
        -> FileState
    {
        let (directory, name) = try openParent(relative, in: fs)
        defer { close(directory) }
        var info = stat()
        if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory { return .missing }
            throw .system(error, "fstatat", path: fs.directory.display(relative).string)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw HostAccessError(
                .notRegularFile,
                "\(fs.directory.display(relative)) is \(RootDirectory.kindName(info.st_mode)), not a file vfioctl wrote; "
                    + "move it away and run the command again (nothing was changed)",
                path: fs.directory.display(relative).string, syscall: "fstatat")
        }
        guard let bytes = try fs.readBytes(relative, limit: limit) else { return .missing }
        return .file(bytes, mode: Int(info.st_mode & 0o7777))
    }

    /// Puts `state` at `relative` below `fs`'s root: a file is written to a temporary name in
    /// the same directory, synced and renamed over the old one (readers see the old file or
    /// the new, never half of one); `.missing` removes the file. The directory must exist.
    /// Recorded (and in a dry run only recorded) like every other write.
    public func replaceFile(_ relative: String, with state: FileState, in fs: RootedFileSystem)
        throws(HostAccessError)
    {
        let path = try fs.resolve(relative)
        let (directory, name) = try Self.openParent(relative, in: fs)
        defer { close(directory) }
        let write: Write
        switch state {
        case .missing: write = Write(path: path.string, value: "", kind: .removal)
        case .file(let bytes, _):
            write = Write(path: path.string, value: String(decoding: bytes, as: UTF8.self), kind: .file)
        }
        writes.append(write)
        if dryRun {
            logger.debug("dry run: would write", metadata: ["path": "\(path)", "kind": "\(write.kind)"])
            return
        }
        logger.debug("write", metadata: ["path": "\(path)", "kind": "\(write.kind)"])
        let temporary = Self.temporaryName(of: name)
        _ = unlinkat(directory, temporary, 0)
        switch state {
        case .missing:
            if unlinkat(directory, name, 0) != 0, errno != ENOENT {
                throw .system(Errno(rawValue: errno), "unlink", path: path.string)
            }
        case .file(let bytes, let mode):
            try Self.writeNew(bytes, mode: mode, as: temporary, in: directory, path: path)
            if renameat(directory, temporary, directory, name) != 0 {
                let error = Errno(rawValue: errno)
                _ = unlinkat(directory, temporary, 0)
                throw .system(error, "rename to", path: path.string)
            }
        }
        _ = fsync(directory)
        try notifyAfterWrite(write, describedAs: "write \(path)", path: path)
    }

    private static func openParent(_ relative: String, in fs: RootedFileSystem) throws(HostAccessError)
        -> (Int32, String)
    {
        guard let (directory, name) = try fs.directory.openParent(relative) else {
            let parent = fs.directory.display(relative).removingLastComponent()
            throw HostAccessError(
                .notFound, "the directory \(parent) does not exist (is the package that reads it installed?)",
                path: parent.string, syscall: "open", errno: .noSuchFileOrDirectory)
        }
        return (directory, name)
    }

    static func writeNew(_ bytes: [UInt8], mode: Int, as name: String, in directory: Int32, path: FilePath)
        throws(HostAccessError)
    {
        let fd = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw .system(Errno(rawValue: errno), "create a temporary file for", path: path.string) }
        defer { close(fd) }
        do {
            try FileTree.writeAll(bytes, to: fd)
        } catch {
            _ = unlinkat(directory, name, 0)
            throw .system(error, "write", path: path.string)
        }
        // The umask must not change the mode the file is restored with.
        guard fchmod(fd, mode_t(mode)) == 0, fsync(fd) == 0 else {
            let error = Errno(rawValue: errno)
            _ = unlinkat(directory, name, 0)
            throw .system(error, "fsync", path: path.string)
        }
    }
}
