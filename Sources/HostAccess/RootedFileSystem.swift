import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Read access below one root directory. Relative paths are joined with
/// `FilePath.lexicallyResolving`, so `..` can never leave the root. Every path read can be
/// recorded, which is how `vfioctl snapshot create` captures exactly what the analyses read.
public struct RootedFileSystem: Sendable {
    public let root: FilePath
    /// When set, every path this reader touches is added to it.
    public var recorder: AccessRecorder?

    public init(root: FilePath, recorder: AccessRecorder? = nil) {
        self.root = root
        self.recorder = recorder
    }

    /// The absolute path for `relative`, or an error when it would escape the root.
    public func resolve(_ relative: String) throws(HostAccessError) -> FilePath {
        guard let path = root.lexicallyResolving(FilePath(relative)) else {
            throw HostAccessError(.escapesRoot, "\(relative) leaves the root \(root)", path: relative)
        }
        return path
    }

    /// The file's text without its trailing newline; nil when it does not exist.
    public func readText(_ relative: String) throws(HostAccessError) -> String? {
        guard let bytes = try readBytes(relative, limit: 1 << 20) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }

    /// Up to `limit` bytes of the file; nil when it does not exist.
    public func readBytes(_ relative: String, limit: Int = 4096) throws(HostAccessError) -> [UInt8]? {
        let path = try resolve(relative)
        recorder?.record(path.string)
        let fd = path.withPlatformString { open($0, O_RDONLY | O_CLOEXEC) }
        return try Self.readAll(fd: fd, limit: limit, path: path)
    }

    /// Reads an opened file descriptor to the end (or `limit`) and closes it; nil for ENOENT.
    static func readAll(fd: Int32, limit: Int, path: @autoclosure () -> FilePath) throws(HostAccessError) -> [UInt8]? {
        if fd < 0 {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory { return nil }
            throw .system(error, "open", path: path().string)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        while result.count < limit {
            let wanted = min(4096, limit - result.count)
            let before = result.count
            var failure: Errno?
            result.append(contentsOf: repeatElement(0, count: wanted))
            let n = result.withUnsafeMutableBytes { raw -> Int in
                let got = read(fd, raw.baseAddress! + before, wanted)
                if got < 0 { failure = Errno(rawValue: errno) }
                return got
            }
            result.removeLast(wanted - max(n, 0))
            if let failure {
                if failure == .interrupted { continue }
                throw .system(failure, "read", path: path().string)
            }
            if n == 0 { break }
        }
        return result
    }

    /// Opens a directory once for many reads inside it (sysfs device directories), which
    /// saves walking the long sysfs path for every attribute; nil when it does not exist.
    public func openDirectory(_ relative: String) throws(HostAccessError) -> DirectoryHandle? {
        let path = try resolve(relative)
        let fd = path.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if fd < 0 {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory { return nil }
            throw .system(error, "open", path: path.string)
        }
        return DirectoryHandle(fd: fd, path: path, recorder: recorder)
    }

    /// The target text of a symbolic link; nil when there is no link at `relative`.
    public func readLink(_ relative: String) throws(HostAccessError) -> String? {
        let path = try resolve(relative)
        recorder?.record(path.string)
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = path.withPlatformString { readlink($0, &buffer, buffer.count - 1) }
        if n < 0 {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory || error == .invalidArgument {
                return nil
            }
            throw .system(error, "readlink", path: path.string)
        }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in a directory, sorted; nil when it does not exist.
    public func list(_ relative: String) throws(HostAccessError) -> [String]? {
        let path = try resolve(relative)
        recorder?.record(path.string)
        guard let dir = path.withPlatformString({ opendir($0) }) else {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory || error == .notDirectory { return nil }
            throw .system(error, "opendir", path: path.string)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether anything (file, directory or link, even a dangling one) exists at `relative`.
    public func exists(_ relative: String) -> Bool {
        guard let path = try? resolve(relative) else { return false }
        recorder?.record(path.string)
        var info = stat()
        return path.withPlatformString { lstat($0, &info) } == 0
    }
}

/// An open directory whose entries are read with openat/readlinkat. Entry names must be
/// single components: nothing here can leave the directory.
public final class DirectoryHandle {
    private let fd: Int32
    public let path: FilePath
    private let recorder: AccessRecorder?

    init(fd: Int32, path: FilePath, recorder: AccessRecorder?) {
        self.fd = fd
        self.path = path
        self.recorder = recorder
    }

    deinit { close(fd) }

    private func checked(_ name: String) throws(HostAccessError) -> String {
        guard !name.isEmpty, !name.contains("/"), name != "..", name != "." else {
            throw HostAccessError(.escapesRoot, "\(name) is not a single name inside \(path)", path: path.string)
        }
        recorder?.record(path.appending(name).string)
        return name
    }

    /// The entry's text without its trailing newline; nil when it does not exist.
    public func readText(_ name: String) throws(HostAccessError) -> String? {
        let name = try checked(name)
        let fd = openat(self.fd, name, O_RDONLY | O_CLOEXEC)
        guard let bytes = try RootedFileSystem.readAll(fd: fd, limit: 1 << 16, path: path.appending(name)) else {
            return nil
        }
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
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
public func readTextFile(_ path: String) throws(HostAccessError) -> String? {
    try RootedFileSystem(root: "/").readText(absolutePath(path))
}
