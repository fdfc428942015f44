import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Small write helpers for building trees on disk (snapshots, generated hosts). They only
/// ever write below a directory the caller created; nothing here touches the live host.
public enum FileTree {
    public static func makeDirectories(_ path: FilePath) throws(HostAccessError) {
        var current = FilePath(root: path.root)
        for component in path.components {
            current.append(component)
            if current.withPlatformString({ mkdir($0, 0o755) }) != 0 {
                let error = Errno(rawValue: errno)
                if error != .fileExists { throw .system(error, "mkdir", path: current.string) }
            }
        }
    }

    public static func writeFile(_ path: FilePath, _ bytes: [UInt8]) throws(HostAccessError) {
        if let parent = path.removingLastComponent() as FilePath?, !parent.isEmpty { try makeDirectories(parent) }
        let fd = path.withPlatformString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .system(Errno(rawValue: errno), "open", path: path.string) }
        defer { close(fd) }
        do {
            try writeAll(bytes, to: fd)
        } catch {
            throw .system(error, "write", path: path.string)
        }
    }

    /// Writes every byte of `bytes` to `fd`, again after a short write or EINTR; the first
    /// other error is thrown as it came. The one write loop for files vfioctl creates.
    public static func writeAll(_ bytes: [UInt8], to fd: Int32) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                let error = Errno(rawValue: errno)
                if error == .interrupted { continue }
                throw error
            }
            written += n
        }
    }

    public static func writeText(_ path: FilePath, _ text: String) throws(HostAccessError) {
        try writeFile(path, Array(text.utf8))
    }

    /// Creates a symbolic link at `path` holding `target`, replacing nothing that exists.
    public static func makeLink(_ path: FilePath, to target: String) throws(HostAccessError) {
        try makeDirectories(path.removingLastComponent())
        if path.withPlatformString({ link in target.withCString { text in symlink(text, link) } }) != 0 {
            let error = Errno(rawValue: errno)
            if error != .fileExists { throw .system(error, "symlink", path: path.string) }
        }
    }

    public enum Kind { case missing, file, directory, link, other }

    public static func kind(of path: FilePath) -> Kind {
        var info = stat()
        guard path.withPlatformString({ lstat($0, &info) }) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .link
        default: return .other
        }
    }

    /// Whether `path` itself is a character device node (`lstat`).
    public static func isCharacterDevice(_ path: FilePath) -> Bool {
        var info = stat()
        return path.withPlatformString({ lstat($0, &info) }) == 0 && info.st_mode & S_IFMT == S_IFCHR
    }

    /// The relative link text that leads from directory `from` to `to` (both root-relative
    /// component lists), as sysfs writes its links (`../../../devices/pci0000:00/…`).
    static func relativeLink(from: [String], to: [String]) -> String {
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let ups = Array(repeating: "..", count: from.count - common)
        return (ups + to[common...]).joined(separator: "/")
    }

    /// Removes a directory tree vfioctl made (an unpacked snapshot), without following any
    /// link in it: entries are removed with `unlinkat` through `O_NOFOLLOW` directory handles.
    public static func removeTree(_ path: FilePath) {
        let fd = path.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return }
        removeContents(of: fd, depth: 0)
        close(fd)
        _ = path.withPlatformString { rmdir($0) }
    }

    private static func removeContents(of directory: Int32, depth: Int) {
        guard depth < 256, let stream = fdopendir(dup(directory)) else { return }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(stream)
        for name in names {
            let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 {
                removeContents(of: child, depth: depth + 1)
                close(child)
                unlinkat(directory, name, AT_REMOVEDIR)
            } else {
                unlinkat(directory, name, 0)
            }
        }
    }
}
