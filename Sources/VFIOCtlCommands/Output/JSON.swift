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
        output.append(UInt8(ascii: "\""))
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            output.append(contentsOf: value.utf8)
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
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
