import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// A JSON value with ordered object keys, so output is stable and diffable.
/// Serialised straight to UTF-8 bytes; large reports are streamed in pieces (`JSONStream`).
enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    static func optional(_ value: Int?) -> JSON { value.map(JSON.int) ?? .null }

    /// Serialises with two-space indentation.
    func rendered() -> String {
        var output: [UInt8] = []
        write(to: &output, indent: 0)
        output.append(UInt8(ascii: "\n"))
        return String(decoding: output, as: UTF8.self)
    }

    func write(to output: inout [UInt8], indent: Int) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): output.append(contentsOf: String(value).utf8)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            if values.isEmpty {
                output.append(contentsOf: "[]".utf8)
                return
            }
            output.append(contentsOf: "[\n".utf8)
            for (index, value) in values.enumerated() {
                Self.indent(&output, indent + 2)
                value.write(to: &output, indent: indent + 2)
                output.append(contentsOf: (index == values.count - 1 ? "\n" : ",\n").utf8)
            }
            Self.indent(&output, indent)
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty {
                output.append(contentsOf: "{}".utf8)
                return
            }
            output.append(contentsOf: "{\n".utf8)
            for (index, (key, value)) in members.enumerated() {
                Self.indent(&output, indent + 2)
                Self.writeString(key, to: &output)
                output.append(contentsOf: ": ".utf8)
                value.write(to: &output, indent: indent + 2)
                output.append(contentsOf: (index == members.count - 1 ? "\n" : ",\n").utf8)
            }
            Self.indent(&output, indent)
            output.append(UInt8(ascii: "}"))
        }
    }

    static func indent(_ output: inout [UInt8], _ count: Int) {
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count))
    }

    static func writeString(_ value: String, to output: inout [UInt8]) {
        var value = value
        value.withUTF8 { writeString(utf8: $0, to: &output) }
    }

    private static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            output.append(contentsOf: bytes)
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): output.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\r"): output.append(contentsOf: "\\r".utf8)
            case UInt8(ascii: "\t"): output.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let digits = Array(String(byte, radix: 16).utf8)
                output.append(contentsOf: "\\u00".utf8)
                if digits.count == 1 { output.append(UInt8(ascii: "0")) }
                output.append(contentsOf: digits)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

/// Writes JSON text in one pass, straight to bytes, with the same layout as `JSON.write`
/// (two-space indentation, `{}` and `[]` when empty): for the reports with thousands of
/// entries, where building a `JSON` tree first and then walking it doubled the work.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// One entry per open object or array: whether it has a member yet.
    private var opened: [Bool] = []
    private var indent: Int

    /// `indent`: the indentation of the line the first value starts on.
    init(indent: Int = 0) {
        self.indent = indent
        bytes.reserveCapacity(2048)
    }

    /// Starts a member: the separator, the new line, the indentation, and `"key": `.
    private mutating func member(_ key: String?) {
        if let last = opened.indices.last {
            bytes.append(contentsOf: opened[last] ? ",\n".utf8 : "\n".utf8)
            opened[last] = true
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
        }
        if let key {
            JSON.writeString(key, to: &bytes)
            bytes.append(contentsOf: ": ".utf8)
        }
    }

    private mutating func open(_ bracket: UInt8, _ key: String?) {
        member(key)
        bytes.append(bracket)
        opened.append(false)
        indent += 2
    }

    private mutating func close(_ bracket: UInt8) {
        indent -= 2
        if opened.removeLast() {
            bytes.append(UInt8(ascii: "\n"))
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
        }
        bytes.append(bracket)
    }

    /// An object (as the member `key` inside an object, or a value in an array when nil).
    mutating func object(_ key: String? = nil, _ body: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "{"), key)
        body(&self)
        close(UInt8(ascii: "}"))
    }

    mutating func array(_ key: String? = nil, _ body: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "["), key)
        body(&self)
        close(UInt8(ascii: "]"))
    }

    /// The member `key`: a string, or null.
    mutating func string(_ key: String, _ value: String?) {
        member(key)
        writeString(value)
    }

    /// An array element: a string, or null.
    mutating func string(_ value: String?) {
        member(nil)
        writeString(value)
    }

    private mutating func writeString(_ value: String?) {
        if let value { JSON.writeString(value, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    /// The member `key`: `value` as lowercase hex of `width` digits, quoted, as
    /// `hex(_:width:)` spells it.
    mutating func hexString<T: FixedWidthInteger & UnsignedInteger>(_ key: String, _ value: T, width: Int) {
        member(key)
        bytes.append(UInt8(ascii: "\""))
        // Digits from the most significant, at least `width` of them (never truncated).
        var count = 1
        while count < T.bitWidth / 4 && value >> (4 * count) != 0 { count += 1 }
        for position in stride(from: Swift.max(count, width) - 1, through: 0, by: -1) {
            let nibble = position < T.bitWidth / 4 ? UInt8(truncatingIfNeeded: value >> (4 * position)) & 0xf : 0
            bytes.append(hexDigit(nibble))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func int(_ key: String, _ value: Int?) {
        member(key)
        if let value { bytes.append(contentsOf: String(value).utf8) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func bool(_ key: String, _ value: Bool?) {
        member(key)
        bytes.append(contentsOf: (value.map { $0 ? "true" : "false" } ?? "null").utf8)
    }

    /// The member `key`, built as a `JSON` tree (small, rare parts).
    mutating func value(_ key: String, _ value: JSON) {
        member(key)
        value.write(to: &bytes, indent: indent)
    }

    /// An array element built as a `JSON` tree.
    mutating func value(_ value: JSON) {
        member(nil)
        value.write(to: &bytes, indent: indent)
    }
}

/// Writes JSON to standard output piece by piece, so a 4,096-function report never sits
/// in memory whole.
struct JSONStream {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 17) }

    /// Appends raw JSON text (punctuation, keys) as given.
    mutating func raw(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        flushIfFull()
    }

    /// Appends JSON already serialised elsewhere.
    mutating func bytes(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        flushIfFull()
    }

    mutating func value(_ value: JSON, indent: Int) {
        value.write(to: &buffer, indent: indent)
        flushIfFull()
    }

    private mutating func flushIfFull() {
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { write(1, $0.baseAddress! + offset, buffer.count - offset) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                break
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
