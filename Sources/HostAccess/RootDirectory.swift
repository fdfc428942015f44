import CSystemCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A directory that no path opened below it can leave: the one resolver of vfioctl.
///
/// Every path under a root (the live `/`, a `--root` tree, an unpacked snapshot) is opened
/// here, resolved as if the root were the file system's `/`: `..` stops at the root and an
/// absolute symbolic link starts again at the root, which is what sysfs's own relative links
/// (`../../../devices/pci0000:00/…`) need and what a hostile tree's `/etc/passwd` link must
/// not reach. On Linux ≥ 5.6 this is `openat2(2)` with `RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS`; on older kernels (or where seccomp hides openat2) the path is
/// walked one component at a time with `openat(O_NOFOLLOW)`, following each link by hand.
public final class RootDirectory: @unchecked Sendable {
    /// How paths are resolved.
    public enum Resolution: String, Sendable {
        /// `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (Linux ≥ 5.6).
        case openat2
        /// Component by component with `openat(O_NOFOLLOW)` and `readlinkat`.
        case componentWalk = "walk"

        /// openat2 when the kernel has it, else the walk. `VFIOCTL_RESOLVER=walk` forces the
        /// walk (how the tests exercise it on a new kernel).
        public static let preferred: Resolution = {
            if let forced = getenv("VFIOCTL_RESOLVER"), String(cString: forced) == "walk" { return .componentWalk }
            let fd = csys_open_in_root(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            if fd >= 0 {
                close(fd)
                return .openat2
            }
            return .componentWalk
        }()
    }

    /// The most symbolic links one lookup follows, as the kernel's MAXSYMLINKS.
    public static let maximumLinks = 40

    public let path: FilePath
    public let resolution: Resolution
    /// An `O_PATH` descriptor of the root; -1 when it could not be opened (`openError` says why).
    private let fd: Int32
    private let openError: Errno?

    /// Opens `path` (given by the user or the program: it is followed as given) as a root.
    public init(path: FilePath, resolution: Resolution = .preferred) {
        self.path = path
        self.resolution = resolution
        let fd = path.withPlatformString { Glibc.open($0, csys_o_path() | O_DIRECTORY | O_CLOEXEC) }
        self.fd = fd
        openError = fd < 0 ? Errno(rawValue: errno) : nil
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Whether the root itself could be opened.
    public var exists: Bool { fd >= 0 }

    /// The path as a user would name it, for messages only: nothing opens this string.
    public func display(_ relative: String) -> FilePath {
        var result = path
        for component in relative.split(separator: "/") where component != "." && component != ".." {
            result.append(String(component))
        }
        return result
    }

    /// Opens `relative` with `flags` (`O_CLOEXEC` is added). nil when it, or a directory on
    /// the way, does not exist; any other failure is an error naming the path and the call.
    public func open(_ relative: String, flags: Int32, mode: mode_t = 0) throws(HostAccessError) -> Int32? {
        guard fd >= 0 else {
            if openError == .noSuchFileOrDirectory || openError == .notDirectory { return nil }
            throw .system(openError ?? .noSuchFileOrDirectory, "open", path: path.string)
        }
        let result: Int32
        switch resolution {
        case .openat2:
            result = csys_open_in_root(fd, relative.isEmpty ? "." : relative, flags | O_CLOEXEC, UInt32(mode))
        case .componentWalk:
            result = walk(relative, flags: flags | O_CLOEXEC, mode: mode)
        }
        if result >= 0 { return result }
        let error = Errno(rawValue: errno)
        if error == .noSuchFileOrDirectory || error == .notDirectory { return nil }
        if error == .tooManySymbolicLinkLevels, flags & O_NOFOLLOW != 0 {
            throw HostAccessError(
                .notRegularFile, "\(display(relative)) is a symbolic link, not a file vfioctl writes to",
                path: display(relative).string, syscall: "open", errno: error)
        }
        throw .system(error, "open", path: display(relative).string)
    }

    /// The directory holding `relative`'s last component, opened, with that component's
    /// name: for `readlinkat` and `fstatat`, which must not follow the last link. nil when
    /// the directory does not exist, or `relative` has no last component (the root itself).
    public func openParent(_ relative: String) throws(HostAccessError) -> (directory: Int32, name: String)? {
        var components = relative.split(separator: "/").filter { $0 != "." }
        guard let last = components.popLast(), last != ".." else { return nil }
        let parent = components.joined(separator: "/")
        guard let directory = try open(parent, flags: O_RDONLY | O_DIRECTORY) else { return nil }
        return (directory, String(last))
    }

    /// Opens `relative` for reading or writing and checks, before a byte moves, that it is a
    /// regular file (sysfs and procfs attributes are): a FIFO, a device, a socket or a
    /// directory is refused by name. `O_NONBLOCK` makes the open itself unable to hang on a
    /// FIFO. nil when it does not exist.
    public func openRegularFile(_ relative: String, flags: Int32) throws(HostAccessError) -> Int32? {
        try openRegularFileSized(relative, flags: flags)?.fd
    }

    /// As `openRegularFile`, with the file's size from the same `fstat` (for readers).
    func openRegularFileSized(_ relative: String, flags: Int32) throws(HostAccessError) -> (fd: Int32, size: Int)? {
        let opened: Int32
        do {
            guard let fd = try open(relative, flags: flags | O_NONBLOCK | O_NOCTTY) else { return nil }
            opened = fd
        } catch {
            // A FIFO without a reader refuses a non-blocking writer (ENXIO): say what it is.
            if error.errno == .noSuchAddressOrDevice,
                let handle = try? open(relative, flags: csys_o_path() | (flags & O_NOFOLLOW))
            {
                var info = stat()
                let known = fstat(handle, &info) == 0
                close(handle)
                if known, info.st_mode & S_IFMT != S_IFREG {
                    throw HostAccessError(
                        .notRegularFile, "\(display(relative)) is \(Self.kindName(info.st_mode)), not a regular file",
                        path: display(relative).string, syscall: "open", errno: error.errno)
                }
            }
            throw error
        }
        let size = try Self.requireRegularFile(opened, path: display(relative))
        return (opened, size)
    }

    /// Checks with `fstat` that `fd` is a regular file; otherwise closes it and throws an
    /// error naming `path` and what it is. Every read and write of a file goes through this.
    /// Returns the file's size (`st_size`).
    @discardableResult
    static func requireRegularFile(_ fd: Int32, path: FilePath) throws(HostAccessError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw .system(error, "fstat", path: path.string)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw HostAccessError(
                .notRegularFile, "\(path) is \(kindName(info.st_mode)), not a regular file", path: path.string,
                syscall: "fstat")
        }
        return Int(info.st_size)
    }

    /// "a FIFO", "a directory", … for messages.
    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    // MARK: - The walk (kernels without openat2)

    /// Resolves `relative` as `RESOLVE_IN_ROOT` does, one component at a time: every
    /// directory is opened with `O_NOFOLLOW`, a link is read with `readlinkat` and its text
    /// resolved in turn (from the root when absolute), `..` at the root stays at the root.
    /// Returns a descriptor, or -1 with errno set.
    private func walk(_ relative: String, flags: Int32, mode: mode_t) -> Int32 {
        var directories: [Int32] = [dup(fd)]
        defer { for directory in directories { close(directory) } }
        guard directories[0] >= 0 else { return -1 }
        var pending = Self.components(relative).reversed() as [String]
        var linksFollowed = 0
        while let name = pending.popLast() {
            if name == ".." {
                if directories.count > 1 { close(directories.removeLast()) }
                continue
            }
            let current = directories[directories.count - 1]
            let isLast = pending.isEmpty
            var info = stat()
            if fstatat(current, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                if isLast, errno == ENOENT, flags & O_CREAT != 0 {
                    return openat(current, name, flags | O_NOFOLLOW, mode)
                }
                return -1
            }
            if info.st_mode & S_IFMT == S_IFLNK {
                if isLast, flags & O_NOFOLLOW != 0 {
                    errno = ELOOP
                    return -1
                }
                linksFollowed += 1
                guard linksFollowed <= Self.maximumLinks, let target = Self.readLink(at: current, name) else {
                    if linksFollowed > Self.maximumLinks { errno = ELOOP }
                    return -1
                }
                if target.hasPrefix("/") {
                    for directory in directories.dropFirst() { close(directory) }
                    directories.removeSubrange(1...)
                }
                pending += Self.components(target).reversed()
                continue
            }
            if isLast { return openat(current, name, flags | O_NOFOLLOW, mode) }
            let next = openat(current, name, csys_o_path() | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return -1 }
            directories.append(next)
        }
        return openat(directories[directories.count - 1], ".", flags, mode)
    }

    private static func components(_ path: String) -> [String] {
        path.split(separator: "/").filter { $0 != "." }.map(String.init)
    }

    /// `readlinkat(directory, name)`; nil with errno set on failure.
    static func readLink(at directory: Int32, _ name: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer -> String? in
            let n = readlinkat(directory, name, buffer.baseAddress!, 4095)
            guard n >= 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: n), as: UTF8.self)
        }
    }
}
