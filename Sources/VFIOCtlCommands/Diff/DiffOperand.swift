import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One operand of `vfioctl diff`: the word `live`, a snapshot, an lspci dump or a root
/// directory, detected from what the path is unless a `snapshot:`, `lspci:` or `root:`
/// prefix says.
struct DiffOperand: Equatable {
    enum Kind: String {
        case live, snapshot, lspci, root
    }

    var kind: Kind
    /// The path (nil for `live`).
    var path: String?
    /// The operand as given, for messages.
    var text: String

    /// A problem with an operand: names it and says what it is expected to be.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static let expected =
        "expected `live`, a snapshot (.tar.gz or directory with vfioctl-snapshot.json), an lspci dump "
        + "(`lspci -xxx` text) or a root directory holding sys/ (prefix snapshot:, lspci: or root: to say which)"

    /// Detects the kind; the path is looked at (`stat`, and the first bytes of a regular
    /// file), never opened when it is not a regular file or directory, so a FIFO cannot block.
    init(_ text: String) throws(Problem) {
        self.text = text
        if text == "live" {
            kind = .live
            return
        }
        for kind in [Kind.snapshot, .lspci, .root] where text.hasPrefix(kind.rawValue + ":") {
            let path = String(text.dropFirst(kind.rawValue.count + 1))
            guard !path.isEmpty else { throw Problem(description: "\(text): no path after `\(kind.rawValue):`") }
            self.kind = kind
            self.path = path
            try Self.requireExisting(path, text: text)
            return
        }
        path = text
        kind = try Self.detect(text)
    }

    private static func status(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    private static func requireExisting(_ path: String, text: String) throws(Problem) {
        guard let info = status(path) else {
            throw Problem(description: "\(text): \(String(cString: strerror(errno))); \(expected)")
        }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFDIR else {
            throw Problem(description: "\(text) is \(describe(type)), not a file or directory; \(expected)")
        }
    }

    private static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "a special file"
        }
    }

    private static func detect(_ path: String) throws(Problem) -> Kind {
        try requireExisting(path, text: path)
        guard let info = status(path) else { throw Problem(description: "\(path): vanished; \(expected)") }
        if info.st_mode & S_IFMT == S_IFDIR {
            let top = RootedFileSystem(root: FilePath(path))
            if top.exists(Snapshot.manifestName) { return .snapshot }
            if top.exists("sys") { return .root }
            throw Problem(
                description: "\(path) is a directory but neither a snapshot (no \(Snapshot.manifestName)) "
                    + "nor a root (no sys/); \(expected)")
        }
        guard info.st_size > 0 else { throw Problem(description: "\(path) is an empty file; \(expected)") }
        if path.hasSuffix(".tar.gz") || path.hasSuffix(".tgz") || path.hasSuffix(".tar") { return .snapshot }
        let head = firstBytes(path, count: 2)
        if head == [0x1f, 0x8b] { return .snapshot }
        return .lspci
    }

    private static func firstBytes(_ path: String, count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        return got > 0 ? Array(buffer[0..<got]) : []
    }

    /// The model, the root whose `etc/vfioctl/quirks.d` extends the quirk database (as
    /// inspect chooses it), and the open snapshot that keeps an unpacked archive alive.
    func load() throws -> (HostModel, HostRoots, OpenedSnapshot?) {
        switch kind {
        case .live:
            return (try SysfsHostReader(roots: .live).read(source: "live host"), .live, nil)
        case .lspci:
            return (try LspciDumpReader(path: path ?? "").read(), .live, nil)
        case .snapshot:
            let opened = try Snapshot.open(path ?? "")
            return (
                try SysfsHostReader(roots: opened.roots).read(source: "snapshot \(path ?? "")"), opened.roots, opened
            )
        case .root:
            let roots = HostRoots(base: FilePath(path ?? ""))
            guard roots.top.exists("sys") else {
                throw Problem(description: "\(text): a root must hold sys/ (and proc/); \(path ?? "") has no sys/")
            }
            return (try SysfsHostReader(roots: roots).read(source: "root \(path ?? "")"), roots, nil)
        }
    }
}
