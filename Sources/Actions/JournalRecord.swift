import PCIModel

/// One line of an action's journal: what a host change is about to replace, written (and
/// fsync'ed) before the change. Undoing a journal applies its records newest first.
///
/// Format: one record per line, `KIND FIELD…`, fields separated by one space, each field
/// escaped by `JournalRecord.escape` (`%XX` for space, `%`, control bytes; `-` alone is
/// "none"); the `action` record's words are the rest of its line, spaces kept. The keywords of the first format (`action`, `device`, `sriov`) are kept, so a
/// journal left by an older vfioctl still parses.
public enum JournalRecord: Sendable, Equatable {
    /// The first record: which action, in words (`bind group 12 vfio-pci`).
    case action(String)
    /// A function's driver and driver_override before it moves.
    case device(PriorDriver)
    /// A PF's VF count (and `sriov_drivers_autoprobe`, when it changes) before it changes.
    case sriov(pf: PCIAddress, previousCount: Int, previousAutoprobe: Bool?)
    /// A hugepage pool's `nr_hugepages` before it is resized.
    case hugepages(sizeKiB: Int, node: Int?, previousTotal: Int)
    /// A state file created by the action, relative to the state directory
    /// (`domains/NAME`: a hook registration); undone by removing it.
    case stateFile(String)
    /// A kernel module the action unloads (igb's reload): recovery makes sure it is loaded.
    case module(String)
    /// A function's `reset_method` before it is written (empty: every method disabled).
    case resetMethod(PCIAddress, previous: [ResetMethod])
    /// A configuration file below the root (`etc/udev/rules.d/…`) before the action replaces
    /// it: its text and mode, or nil when there was none (undone by removing it).
    case configFile(path: String, previous: String?, mode: Int)

    // MARK: - Text form

    public var line: String {
        switch self {
        case .action(let words): "action " + Self.escape(words, keepingSpaces: true)
        case .device(let prior):
            "device \(prior.address) \(Self.escape(prior.driver)) \(Self.escape(prior.override))"
        case .sriov(let pf, let count, let autoprobe):
            "sriov \(pf) \(count)" + (autoprobe.map { " autoprobe=\($0 ? 1 : 0)" } ?? "")
        case .hugepages(let size, let node, let total):
            "hugepages \(size) \(node.map(String.init) ?? "-") \(total)"
        case .stateFile(let name): "state-file " + Self.escape(name)
        case .module(let name): "module " + Self.escape(name)
        case .resetMethod(let address, let previous):
            "reset-method \(address) " + Self.escape(previous.map(\.rawValue).joined(separator: " "))
        case .configFile(let path, let previous, let mode):
            "config-file \(Self.escape(path)) \(String(mode, radix: 8)) \(Self.escape(previous))"
        }
    }

    /// Parses one line; nil (with the reason) when it is not a record.
    public static func parse(_ line: Substring) -> Result<JournalRecord, JournalFormatError> {
        // The action's words are the rest of the line, read as people write them.
        if line.hasPrefix("action ") {
            let words = unescape(line.dropFirst("action ".count)) ?? ""
            return words.isEmpty ? .failure(.init("action without words")) : .success(.action(words))
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard let kind = fields.first else { return .failure(.init("empty line")) }
        func field(_ index: Int) -> String? { index < fields.count ? unescape(fields[index]) : nil }
        func number(_ index: Int) -> Int? { index < fields.count ? Int(fields[index]) : nil }
        switch (kind, fields.count) {
        case ("device", 4):
            guard let address = PCIAddress(fields[1]) else { return .failure(.init("\(fields[1]) is no PCI address")) }
            return .success(.device(PriorDriver(address: address, driver: field(2), override: field(3))))
        case ("sriov", 3), ("sriov", 4):
            guard let pf = PCIAddress(fields[1]), let count = number(2), count >= 0 else {
                return .failure(.init("sriov wants a PF address and a count"))
            }
            var autoprobe: Bool?
            if fields.count == 4 {
                switch fields[3] {
                case "autoprobe=1": autoprobe = true
                case "autoprobe=0": autoprobe = false
                default: return .failure(.init("\(fields[3]) is not autoprobe=0|1"))
                }
            }
            return .success(.sriov(pf: pf, previousCount: count, previousAutoprobe: autoprobe))
        case ("hugepages", 4):
            guard let size = number(1), size > 0, let total = number(3), total >= 0 else {
                return .failure(.init("hugepages wants a size, a node or -, and a count"))
            }
            let node = fields[2] == "-" ? nil : number(2)
            if fields[2] != "-", node == nil { return .failure(.init("\(fields[2]) is not a NUMA node")) }
            return .success(.hugepages(sizeKiB: size, node: node, previousTotal: total))
        case ("state-file", 2):
            guard let name = field(1), StateFileName.isValidRelativePath(name) else {
                return .failure(.init("state-file names no file inside the state directory"))
            }
            return .success(.stateFile(name))
        case ("config-file", 4):
            guard let path = field(1), ConfigFilePath.isValid(path), let mode = Int(fields[2], radix: 8),
                (0...0o7777).contains(mode)
            else {
                return .failure(.init("config-file wants a path below etc/, an octal mode and the old text or -"))
            }
            return .success(.configFile(path: path, previous: field(3), mode: mode))
        case ("module", 2):
            return field(1).map { .success(.module($0)) } ?? .failure(.init("module without a name"))
        case ("reset-method", 3):
            guard let address = PCIAddress(fields[1]) else { return .failure(.init("\(fields[1]) is no PCI address")) }
            let parsed = ResetMethod.parseList(field(2) ?? "")
            guard field(2) != nil, parsed.unknown.isEmpty else {
                return .failure(.init("reset-method wants the methods before the change"))
            }
            return .success(.resetMethod(address, previous: parsed.methods))
        default:
            return .failure(.init("unknown record \(kind) with \(fields.count - 1) fields"))
        }
    }

    /// `-` for none; else the text with space (unless `keepingSpaces`), `%`, `-` alone and
    /// control bytes as `%XX`.
    static func escape(_ text: String?, keepingSpaces: Bool = false) -> String {
        guard let text else { return "-" }
        if text == "-" { return "%2D" }
        if text.isEmpty { return "%" }
        var result: [UInt8] = []
        for byte in text.utf8 {
            if byte < 0x20 || (byte == 0x20 && !keepingSpaces) || byte == UInt8(ascii: "%") || byte == 0x7f {
                result += Array(("%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)).utf8)
            } else {
                result.append(byte)
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The inverse of `escape`; nil for `-`.
    static func unescape(_ field: Substring) -> String? {
        if field == "-" { return nil }
        if field == "%" { return "" }
        var bytes: [UInt8] = []
        var iterator = Array(field.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why a journal line is not a record.
public struct JournalFormatError: Error, Sendable, Equatable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

/// Names of files vfioctl derives from input (domain names, group numbers) inside its state
/// directory: one path component that is not hidden, `..`, or longer than a file name may be.
public enum StateFileName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".") && !name.contains("/")
            && !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f })
    }

    /// `a/b`: every component a valid name.
    public static func isValidRelativePath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { isValid(String($0)) }
    }
}

/// The configuration files a journal may name: only the files vfioctl writes
/// (`BootFiles.all`), so a tampered journal cannot make recovery write anywhere else.
public enum ConfigFilePath {
    public static func isValid(_ path: String) -> Bool { BootFiles.all.contains(path) }
}
