import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Unpacks a snapshot `.tar.gz` into a private directory by vfioctl's own reader, never by
/// `tar` (which, run as root, creates device nodes and follows what an archive says). `gzip
/// -dc` decompresses into a pipe; the tar stream (ustar, GNU long names, pax paths) is read
/// here and only regular files, directories and symbolic links are created, each below the
/// directory (created with `O_NOFOLLOW` at every component, so no entry is written through
/// a link an earlier entry made). Every size is bounded (`InputLimits`): a small archive
/// cannot fill the disk.
struct SnapshotArchive {
    let archive: String
    let destination: FilePath

    /// What went wrong, named by entry.
    private func refuse(_ why: String) -> HostAccessError {
        HostAccessError(.invalidInput, "snapshot \(archive): \(why); nothing of it is used", path: archive)
    }

    func unpack() throws(HostAccessError) {
        let input = RootedFileSystem(root: "/")
        guard let fd = try input.directory.openRegularFile(absolutePath(archive), flags: O_RDONLY) else {
            throw HostAccessError(.notFound, "no snapshot at \(archive)", path: archive)
        }
        defer { close(fd) }
        try unpack(from: fd)
    }

    /// Unpacks the `.tar.gz` open as `fd` (read from its current offset; not closed).
    func unpack(from fd: Int32) throws(HostAccessError) {
        let gzip = try ChildProcess.spawnReading(["gzip", "-dc"], standardInput: fd)
        var stream = PipeReader(fd: gzip.output)
        var failure: HostAccessError?
        var drained = false
        do {
            try extract(from: &stream)
            // tar pads its archive after the end-of-archive marker (to 10 KiB records): read
            // gzip's output to its end before closing the pipe, or gzip, still writing the
            // padding on a busy machine, dies of SIGPIPE (exit 141) and a sound snapshot
            // was refused. Read to its end, gzip's status is its check of the CRC and length
            // trailer, so the padding counts against the unpacked-size limit rather than
            // being cut off unchecked.
            drained = stream.drain(limit: InputLimits.snapshotTotalBytes)
        } catch {
            failure = error
        }
        if failure == nil, !drained { kill(gzip.pid, SIGKILL) }
        close(gzip.output)
        let status = gzip.wait()
        if let failure { throw failure }
        guard drained else {
            throw refuse(
                "it unpacks to more than \(ByteCount(InputLimits.snapshotTotalBytes)) (after tar's end-of-archive marker)"
            )
        }
        guard status == 0 else {
            throw refuse("gzip cannot decompress it (exit \(status)): it is truncated or not a .tar.gz")
        }
    }

    func extract(from stream: inout PipeReader) throws(HostAccessError) {
        let rootFD = destination.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard rootFD >= 0 else { throw .system(Errno(rawValue: errno), "open", path: destination.string) }
        defer { close(rootFD) }
        var total = 0
        var entries = 0
        var longName: String?
        var longLink: String?
        var paxPath: String?
        var paxLink: String?
        var zeroBlocks = 0
        while true {
            guard let header = try stream.read(512, path: archive) else {
                throw refuse("it ends before the tar end-of-archive marker (truncated?)")
            }
            if header.allSatisfy({ $0 == 0 }) {
                zeroBlocks += 1
                if zeroBlocks == 2 { return }
                continue
            }
            zeroBlocks = 0
            guard Self.checksumMatches(header) else { throw refuse("entry \(entries + 1) is not a tar header") }
            entries += 1
            guard entries <= InputLimits.snapshotEntries else {
                throw refuse("it has more than \(InputLimits.snapshotEntries) entries")
            }
            guard let size = Self.octal(header[124..<136]) else { throw refuse("entry \(entries) has no valid size") }
            let type = header[156]
            let metadataLimit = 64 << 10
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= metadataLimit else { throw refuse("entry \(entries) has \(size) bytes of metadata") }
                let data = try readData(&stream, size: size)
                if type == UInt8(ascii: "L") { longName = Self.text(data[...]) }
                if type == UInt8(ascii: "K") { longLink = Self.text(data[...]) }
                if type == UInt8(ascii: "x") { (paxPath, paxLink) = Self.pax(data) }
                continue
            default:
                break
            }
            var name = Self.text(header[0..<100])
            let prefix = Self.text(header[345..<500])
            if header[257..<262].elementsEqual("ustar".utf8), !prefix.isEmpty { name = prefix + "/" + name }
            let path = paxPath ?? longName ?? name
            let link = paxLink ?? longLink ?? Self.text(header[157..<257])
            (longName, longLink, paxPath, paxLink) = (nil, nil, nil, nil)
            let components = try Self.components(of: path, entry: entries, refuse: refuse)
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                guard size <= InputLimits.snapshotFileBytes else {
                    throw refuse(
                        "\(path) is \(size) bytes, over the \(ByteCount(InputLimits.snapshotFileBytes)) limit per file")
                }
                total += size
                guard total <= InputLimits.snapshotTotalBytes else {
                    throw refuse("it unpacks to more than \(ByteCount(InputLimits.snapshotTotalBytes))")
                }
                let data = try readData(&stream, size: size)
                guard let name = components.last else { throw refuse("a file entry has no name") }
                let parent = try directory(components.dropLast(), in: rootFD, path: path)
                defer { close(parent) }
                try write(data, name: name, in: parent, path: path)
            case UInt8(ascii: "5"):
                try skip(&stream, size: size)
                guard !components.isEmpty else { continue }
                close(try directory(components[...], in: rootFD, path: path))
            case UInt8(ascii: "2"):
                try skip(&stream, size: size)
                guard let name = components.last, !link.isEmpty, link.utf8.count < 4096 else {
                    throw refuse("link \(path) has no usable target")
                }
                let parent = try directory(components.dropLast(), in: rootFD, path: path)
                defer { close(parent) }
                if symlinkat(link, parent, name) != 0 {
                    throw refuse("cannot create link \(path): \(Errno(rawValue: errno)) (a duplicate entry?)")
                }
            default:
                let kind =
                    switch type {
                    case UInt8(ascii: "1"): "a hard link"
                    case UInt8(ascii: "3"): "a character device"
                    case UInt8(ascii: "4"): "a block device"
                    case UInt8(ascii: "6"): "a FIFO"
                    default: "of tar type \(type)"
                    }
                throw refuse(
                    "\(path) is \(kind); a vfioctl snapshot holds only regular files, directories and symbolic links")
            }
        }
    }

    /// Opens (creating as needed) the directory `components` below `root`, one component at
    /// a time with `O_NOFOLLOW`: an entry can never be placed through a link.
    private func directory(_ components: ArraySlice<String>, in root: Int32, path: String) throws(HostAccessError)
        -> Int32
    {
        var current = dup(root)
        for component in components {
            if mkdirat(current, component, 0o755) != 0, errno != EEXIST {
                let error = Errno(rawValue: errno)
                close(current)
                throw refuse("cannot create the directory for \(path): \(error)")
            }
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard next >= 0 else { throw refuse("\(path) would be placed through a link or a file (\(component))") }
            current = next
        }
        return current
    }

    private func write(_ data: [UInt8], name: String, in parent: Int32, path: String) throws(HostAccessError) {
        let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw refuse("cannot create \(path): \(Errno(rawValue: errno)) (a duplicate entry?)") }
        defer { close(fd) }
        do {
            try FileTree.writeAll(data, to: fd)
        } catch {
            throw .system(error, "write", path: destination.appending(path).string)
        }
    }

    private func readData(_ stream: inout PipeReader, size: Int) throws(HostAccessError) -> [UInt8] {
        let padded = (size + 511) / 512 * 512
        if padded == 0 { return [] }
        guard let data = try stream.read(padded, path: archive) else { throw refuse("an entry is cut short") }
        return Array(data[0..<size])
    }

    private func skip(_ stream: inout PipeReader, size: Int) throws(HostAccessError) {
        guard size <= InputLimits.snapshotFileBytes else { throw refuse("an entry has \(size) bytes of data") }
        _ = try readData(&stream, size: size)
    }

    // MARK: - Header fields

    static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = octal(header[148..<156]) else { return false }
        var sum = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        return sum == stored
    }

    /// A NUL- or space-terminated octal field; nil when it is not one or is too large.
    static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        var value = 0
        var digits = 0
        for byte in field {
            if byte == 0 || byte == UInt8(ascii: " ") {
                if digits > 0 { break } else { continue }
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), digits < 16 else { return nil }
            value = value * 8 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return value
    }

    static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// `path` and `linkpath` from pax records (`LEN key=value\n`).
    static func pax(_ data: [UInt8]) -> (String?, String?) {
        var path: String?
        var link: String?
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let record = line[line.index(after: space)...]
            if record.hasPrefix("path=") { path = String(record.dropFirst(5)) }
            if record.hasPrefix("linkpath=") { link = String(record.dropFirst(9)) }
        }
        return (path, link)
    }

    /// The entry's path as components below the snapshot: `./` dropped; absolute paths, `..`
    /// and names tar cannot have are refused.
    static func components(
        of path: String, entry: Int, refuse: (String) -> HostAccessError
    ) throws(HostAccessError) -> [String] {
        guard !path.hasPrefix("/") else { throw refuse("entry \(entry) has the absolute path \(path)") }
        var result: [String] = []
        for part in path.split(separator: "/") where part != "." {
            guard part != "..", part.utf8.count <= 255 else {
                throw refuse("entry \(entry) leaves the snapshot: \(path)")
            }
            result.append(String(part))
        }
        return result
    }
}

/// Reads exact block counts from a pipe.
struct PipeReader {
    let fd: Int32

    /// Reads and discards the rest of the stream; true when it ended within `limit` bytes
    /// (a read error counts as an end: the writer's status tells what happened).
    mutating func drain(limit: Int) -> Bool {
        var total = 0
        return withUnsafeTemporaryAllocation(byteCount: 65536, alignment: 16) { buffer in
            while total <= limit {
                let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return true }
                total += n
            }
            return false
        }
    }

    /// Exactly `count` bytes; nil at end of stream before any byte, an error when cut short.
    mutating func read(_ count: Int, path: String) throws(HostAccessError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(Errno(rawValue: errno), "read", path: path)
            }
            if n == 0 { break }
            got += n
        }
        if got == 0 { return nil }
        guard got == count else {
            throw HostAccessError(
                .invalidInput, "snapshot \(path) ends in the middle of an entry (truncated?)", path: path)
        }
        return buffer
    }
}
