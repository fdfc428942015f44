import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Read access below one root directory, through `RootDirectory`: `..` and symbolic links
/// resolve inside the root, and only regular files are read (a FIFO or device is refused by
/// name, never waited on). Every path read can be recorded, which is how `vfioctl snapshot
/// create` captures exactly what the analyses read.
public struct RootedFileSystem: Sendable {
    public let root: FilePath
    /// The open root every path below it is resolved in.
    public let directory: RootDirectory
    /// When set, every path this reader touches is added to it.
    public var recorder: AccessRecorder?

    public init(
        root: FilePath, recorder: AccessRecorder? = nil, resolution: RootDirectory.Resolution = .preferred
    ) {
        self.root = root
        directory = RootDirectory(path: root, resolution: resolution)
        self.recorder = recorder
    }

    /// `relative` below the root as a path string, for messages, for the recorder and for
    /// other programs (lspci) — vfioctl itself never opens it: it opens through `directory`.
    /// An error when `relative` would leave the root lexically.
    public func resolve(_ relative: String) throws(HostAccessError) -> FilePath {
        guard let path = root.lexicallyResolving(FilePath(relative)) else {
            throw HostAccessError(.escapesRoot, "\(relative) leaves the root \(root)", path: relative)
        }
        return path
    }

    private func record(_ relative: String) {
        guard let recorder else { return }
        recorder.record(directory.display(relative).string)
    }

    /// The file's text without its trailing newline; nil when it does not exist. A file over
    /// `limit` bytes is refused (`tooLarge`), not cut.
    public func readText(_ relative: String, limit: Int = InputLimits.attributeBytes) throws(HostAccessError)
        -> String?
    {
        guard let bytes = try readBytes(relative, limit: limit) else { return nil }
        return RootedFileSystem.text(bytes)
    }

    /// The whole file; nil when it does not exist. A file over `limit` bytes is refused.
    public func readBytes(_ relative: String, limit: Int = InputLimits.attributeBytes) throws(HostAccessError)
        -> [UInt8]?
    {
        record(relative)
        guard let (fd, size) = try directory.openRegularFileSized(relative, flags: O_RDONLY) else { return nil }
        return try Self.readAll(fd: fd, limit: limit, size: size, path: directory.display(relative))
    }

    /// A sysfs attribute's text: the bytes without their trailing newline (or CR LF).
    static func text(_ bytes: [UInt8]) -> String {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// Reads an opened file descriptor to the end and closes it. More than `limit` bytes is an
    /// error naming the file and the limit. `size` is the file's `st_size` when known: once
    /// that many bytes are in, the read that would return 0 is skipped (sysfs's `config` and
    /// every file of a tree on disk report their exact size; sysfs text attributes report a
    /// page, procfs 0, and are read to the end).
    static func readAll(fd: Int32, limit: Int, size: Int = 0, path: @autoclosure () -> FilePath)
        throws(HostAccessError) -> [UInt8]
    {
        defer { close(fd) }
        var result: [UInt8] = []
        if size > 4096, size <= limit {
            // A large file of known size (an lspci dump): read straight into its array.
            var failure: Errno?
            result = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                while count < size {
                    let n = read(fd, buffer.baseAddress! + count, size - count)
                    if n < 0, errno == EINTR { continue }
                    if n < 0 { failure = Errno(rawValue: errno) }
                    if n <= 0 { return }
                    count += n
                }
            }
            if let failure { throw .system(failure, "read", path: path().string) }
            if result.count < size { return result }  // it shrank: all there is
        } else if size > 0 {
            result.reserveCapacity(Swift.min(size, limit))
        }
        try withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 16) { chunk throws(HostAccessError) in
            while size <= 0 || result.count != size {
                let n = read(fd, chunk.baseAddress!, chunk.count)
                if n < 0 {
                    let failure = Errno(rawValue: errno)
                    if failure == .interrupted { continue }
                    throw .system(failure, "read", path: path().string)
                }
                if n == 0 { return }
                guard result.count + n <= limit else {
                    throw HostAccessError(
                        .tooLarge,
                        "\(path()) is larger than \(ByteCount(limit)), the limit for this kind of file (Docs/security.md); nothing was read",
                        path: path().string, syscall: "read")
                }
                result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            }
        }
        return result
    }

    /// Opens a directory once for many reads inside it (sysfs device directories), which
    /// saves walking the long sysfs path for every attribute; nil when it does not exist.
    public func openDirectory(_ relative: String) throws(HostAccessError) -> DirectoryHandle? {
        guard let fd = try directory.open(relative, flags: O_RDONLY | O_DIRECTORY) else { return nil }
        return DirectoryHandle(fd: fd, root: directory, relative: relative, recorder: recorder)
    }

    /// The target text of a symbolic link; nil when there is no link at `relative`.
    public func readLink(_ relative: String) throws(HostAccessError) -> String? {
        record(relative)
        guard let (parent, name) = try directory.openParent(relative) else { return nil }
        defer { close(parent) }
        guard let target = RootDirectory.readLink(at: parent, name) else {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory || error == .invalidArgument {
                return nil
            }
            throw .system(error, "readlink", path: directory.display(relative).string)
        }
        return target
    }

    /// The names in a directory, sorted; nil when it does not exist.
    public func list(_ relative: String) throws(HostAccessError) -> [String]? {
        record(relative)
        guard let fd = try directory.open(relative, flags: O_RDONLY | O_DIRECTORY) else { return nil }
        return try Self.names(ownedDirectory: fd, path: directory.display(relative))
    }

    /// The names in the open directory `fd` (which this closes), sorted, without `.` and `..`.
    static func names(ownedDirectory fd: Int32, path: @autoclosure () -> FilePath) throws(HostAccessError)
        -> [String]
    {
        guard let stream = fdopendir(fd) else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw .system(error, "fdopendir", path: path().string)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether anything (file, directory or link, even a dangling one) exists at `relative`.
    public func exists(_ relative: String) -> Bool {
        record(relative)
        guard let (parent, name) = try? directory.openParent(relative) else {
            return relative.split(separator: "/").allSatisfy { $0 == "." || $0 == ".." } && directory.exists
        }
        defer { close(parent) }
        var info = stat()
        return fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// Whether `relative` is a regular file itself (not a link to one): what an attribute
    /// vfioctl will write must be. Reads only (`fstatat` with `AT_SYMLINK_NOFOLLOW`).
    public func isRegularFile(_ relative: String) -> Bool {
        guard let (parent, name) = try? directory.openParent(relative) else { return false }
        defer { close(parent) }
        var info = stat()
        return fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// Opens an existing regular file for one write, as `echo VALUE > FILE` does: `O_TRUNC`
    /// (a tree file must not keep a longer old value), no `O_CREAT` (sysfs attributes exist or
    /// the write is wrong), and no symbolic link as the last component.
    public func openForWriting(_ relative: String) throws(HostAccessError) -> Int32 {
        guard let fd = try directory.openRegularFile(relative, flags: O_WRONLY | O_TRUNC | O_NOFOLLOW) else {
            throw HostAccessError(
                .notFound, "\(directory.display(relative)) does not exist", path: directory.display(relative).string,
                syscall: "open", errno: .noSuchFileOrDirectory)
        }
        return fd
    }

    /// Opens a character device below the root (`/dev/vfio/N`); anything else is refused.
    public func openCharacterDevice(_ relative: String, flags: Int32) throws(HostAccessError) -> Int32? {
        guard let fd = try directory.open(relative, flags: flags | O_NOFOLLOW | O_NOCTTY) else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFCHR else {
            close(fd)
            throw HostAccessError(
                .notRegularFile, "\(directory.display(relative)) is not a character device",
                path: directory.display(relative).string, syscall: "fstat")
        }
        return fd
    }
}

/// A byte count as people read it: "64 KiB", "1 MiB".
public struct ByteCount: CustomStringConvertible, Sendable {
    public var bytes: Int
    public init(_ bytes: Int) { self.bytes = bytes }
    public var description: String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)]
        where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) bytes"
    }
}

/// An open directory whose entries are read with openat/readlinkat. Entry names must be
/// single components: nothing here can leave the directory. Its state never changes after
/// `init`, so threads may share it.
public final class DirectoryHandle: @unchecked Sendable {
    private let fd: Int32
    /// The root this directory was opened in, and its path there: `path` is made from them
    /// only when a message or the recorder needs it (thousands of handles are opened and
    /// most are never named).
    private let root: RootDirectory
    private let relative: String
    private let recorder: AccessRecorder?

    init(fd: Int32, root: RootDirectory, relative: String, recorder: AccessRecorder?) {
        self.fd = fd
        self.root = root
        self.relative = relative
        self.recorder = recorder
    }

    /// The directory as a user would name it, for messages and the recorder.
    public var path: FilePath { root.display(relative) }

    deinit { close(fd) }

    /// `name` when it is a single name inside this directory (else an error), recorded for
    /// snapshots unless `record` is false.
    private func checked(_ name: String, record: Bool = true) throws(HostAccessError) -> String {
        guard !name.isEmpty, !name.utf8.contains(UInt8(ascii: "/")), name != "..", name != "." else {
            throw HostAccessError(.escapesRoot, "\(name) is not a single name inside \(path)", path: path.string)
        }
        if record { self.record(name) }
        return name
    }

    /// The entry's text without its trailing newline; nil when it does not exist. The entry
    /// must be a regular file (a link here is refused: attributes are read through their own
    /// directory, links with `readLink`); over `limit` bytes is refused.
    public func readText(_ name: String, limit: Int = InputLimits.attributeBytes) throws(HostAccessError) -> String? {
        guard let bytes = try readBytes(name, limit: limit) else { return nil }
        return RootedFileSystem.text(bytes)
    }

    /// The whole entry (a regular file); nil when it does not exist.
    public func readBytes(_ name: String, limit: Int) throws(HostAccessError) -> [UInt8]? {
        let name = try checked(name)
        let opened = openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        if opened < 0 {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory { return nil }
            if error == .tooManySymbolicLinkLevels {
                throw HostAccessError(
                    .notRegularFile, "\(path.appending(name)) is a symbolic link, not an attribute",
                    path: path.appending(name).string, syscall: "open", errno: error)
            }
            throw .system(error, "open", path: path.appending(name).string)
        }
        let size = try RootDirectory.requireRegularFile(opened, path: path.appending(name))
        return try RootedFileSystem.readAll(fd: opened, limit: limit, size: size, path: path.appending(name))
    }

    /// Records `name` inside this directory (for snapshots) without reading it.
    func record(_ name: String) {
        recorder?.record(path.appending(name).string)
    }

    /// The directory `name` inside this one, opened (never through a link); nil when it
    /// does not exist or is no directory.
    public func subdirectory(_ name: String) throws(HostAccessError) -> DirectoryHandle? {
        // Recorded only when it is a directory: a snapshot copies what was read, not a file
        // that merely has a directory's name.
        let name = try checked(name, record: false)
        let opened = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard opened >= 0 else {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory || error == .tooManySymbolicLinkLevels {
                return nil
            }
            throw .system(error, "open", path: path.appending(name).string)
        }
        record(name)
        return DirectoryHandle(fd: opened, root: root, relative: relative + "/" + name, recorder: recorder)
    }

    /// The names in this directory, sorted, without `.` and `..`.
    public func names() throws(HostAccessError) -> [String] {
        recorder?.record(path.string)
        let copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0 else { throw .system(Errno(rawValue: errno), "open", path: path.string) }
        return try RootedFileSystem.names(ownedDirectory: copy, path: path)
    }

    /// The target of the symbolic link `name`; nil when there is none.
    public func readLink(_ name: String) throws(HostAccessError) -> String? {
        let name = try checked(name)
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) {
            buffer throws(HostAccessError) -> String? in
            let n = readlinkat(fd, name, buffer.baseAddress!, 4095)
            if n < 0 {
                let error = Errno(rawValue: errno)
                if error == .noSuchFileOrDirectory || error == .notDirectory || error == .invalidArgument { return nil }
                throw .system(error, "readlink", path: path.appending(name).string)
            }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: n), as: UTF8.self)
        }
    }
}

/// A whole file given on the command line (relative to the working directory or absolute),
/// for configuration and input files; nil when it does not exist.
/// Over `InputLimits.configurationFileBytes` is refused with a message naming the file.
public func readTextFile(_ path: String, limit: Int = InputLimits.configurationFileBytes) throws(HostAccessError)
    -> String?
{
    try RootedFileSystem(root: "/").readText(absolutePath(path), limit: limit)
}
