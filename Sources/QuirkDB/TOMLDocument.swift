/// A TOML reader for the quirk database that keeps the line of every key, so a bad entry is
/// reported as `file:line: what is wrong`. It reads the TOML the database uses: comments,
/// `[table]`, `[[array.of.tables]]`, bare/quoted/dotted keys, basic and literal strings,
/// integers (decimal, 0x, 0o, 0b, `_`), booleans, arrays (multi-line) and inline tables.
/// Dates and floats are refused with a message saying so.
///
/// Tables and arrays nest at most `TOMLParser.maximumNesting` levels deep.
public final class TOMLTable {
    public struct Entry {
        public var key: String
        public var value: TOMLValue
        public var line: Int
    }

    public private(set) var entries: [Entry] = []
    /// Position of each key in `entries`: a file with many keys must not cost a scan per key.
    private var positions: [String: Int] = [:]
    /// Line of the header (or inline table) that opened this table.
    public let line: Int

    init(line: Int) { self.line = line }

    public subscript(key: String) -> Entry? { positions[key].map { entries[$0] } }

    func insert(_ key: String, _ value: TOMLValue, line: Int) throws(TOMLError) {
        guard self[key] == nil else { throw TOMLError(line: line, message: "key \"\(key)\" is defined twice") }
        append(Entry(key: key, value: value, line: line))
    }

    private func append(_ entry: Entry) {
        positions[entry.key] = entries.count
        entries.append(entry)
    }

    /// The sub-table at `key`, created when missing.
    func table(_ key: String, line: Int) throws(TOMLError) -> TOMLTable {
        switch self[key]?.value {
        case nil:
            let table = TOMLTable(line: line)
            append(Entry(key: key, value: .table(table), line: line))
            return table
        case .table(let table)?: return table
        case .tableArray(let tables)?:
            guard let last = tables.last else {
                throw TOMLError(line: line, message: "\"\(key)\" is an empty array of tables")
            }
            return last
        default: throw TOMLError(line: line, message: "\"\(key)\" is a value, not a table")
        }
    }

    func appendToArray(_ key: String, line: Int) throws(TOMLError) -> TOMLTable {
        let table = TOMLTable(line: line)
        if let index = positions[key] {
            guard case .tableArray(let tables) = entries[index].value else {
                throw TOMLError(line: line, message: "\"\(key)\" is already a table or value, not an array of tables")
            }
            entries[index].value = .tableArray(tables + [table])
        } else {
            append(Entry(key: key, value: .tableArray([table]), line: line))
        }
        return table
    }
}

public enum TOMLValue {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([TOMLValue])
    case table(TOMLTable)
    case tableArray([TOMLTable])

    /// The TOML type name, for messages.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .bool: "boolean"
        case .array: "array"
        case .table: "table"
        case .tableArray: "array of tables"
        }
    }
}

public struct TOMLError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// Parses a whole document into its root table.
public struct TOMLParser {
    /// How deep tables and arrays may nest: header and dotted-key levels, inline tables and
    /// arrays all count. vfioctl's files use 4; the limit keeps a hostile file (`a = [[[[…`)
    /// from exhausting the stack, in the parser and when the nested values are freed.
    public static let maximumNesting = 64

    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(bytes: Array(text.utf8))
        return try parser.document()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ message: String) -> TOMLError { TOMLError(line: line, message: message) }

    /// Refuses a table or array `depth` levels below the root.
    private func checkNesting(_ depth: Int) throws(TOMLError) {
        guard depth <= Self.maximumNesting else {
            throw fail("tables and arrays nest more than \(Self.maximumNesting) levels deep")
        }
    }

    private mutating func document() throws(TOMLError) -> TOMLTable {
        let root = TOMLTable(line: 1)
        var table = root
        // Levels below the root of `table`.
        var depth = 0
        while true {
            skipBlankAndComments()
            guard let byte = current else { return root }
            if byte == UInt8(ascii: "[") {
                let headerLine = line
                position += 1
                let isArray = current == UInt8(ascii: "[")
                if isArray { position += 1 }
                let path = try keyPath()
                try checkNesting(path.count)
                guard current == UInt8(ascii: "]") else { throw fail("expected ] to close the table header") }
                position += 1
                if isArray {
                    guard current == UInt8(ascii: "]") else {
                        throw fail("expected ]] to close the array-of-tables header")
                    }
                    position += 1
                }
                try endOfLine()
                var parent = root
                for key in path.dropLast() { parent = try parent.table(key, line: headerLine) }
                let last = path[path.count - 1]
                if isArray {
                    table = try parent.appendToArray(last, line: headerLine)
                } else {
                    if case .table? = parent[last]?.value, parent[last]?.line != headerLine {
                        throw TOMLError(
                            line: headerLine, message: "table [\(path.joined(separator: "."))] is defined twice")
                    }
                    table = try parent.table(last, line: headerLine)
                }
                depth = path.count
            } else {
                try keyValue(into: table, depth: depth)
                try endOfLine()
            }
        }
    }

    /// `key = value` into `table`, which is `depth` levels below the root.
    private mutating func keyValue(into table: TOMLTable, depth: Int) throws(TOMLError) {
        let keyLine = line
        let path = try keyPath()
        // Each dotted part but the last opens a table; the value itself sits one level lower.
        try checkNesting(depth + path.count)
        skipSpaces()
        guard current == UInt8(ascii: "=") else {
            throw fail("expected = after key \"\(path.joined(separator: "."))\"")
        }
        position += 1
        skipSpaces()
        let value = try self.value(depth: depth + path.count)
        var target = table
        for key in path.dropLast() { target = try target.table(key, line: keyLine) }
        try target.insert(path[path.count - 1], value, line: keyLine)
    }

    private mutating func keyPath() throws(TOMLError) -> [String] {
        var path: [String] = []
        while true {
            skipSpaces()
            path.append(try key())
            skipSpaces()
            guard current == UInt8(ascii: ".") else { return path }
            position += 1
        }
    }

    private mutating func key() throws(TOMLError) -> String {
        if current == UInt8(ascii: "\"") || current == UInt8(ascii: "'") {
            return try string()
        }
        let start = position
        while let byte = current, isBareKeyByte(byte) { position += 1 }
        guard position > start else { throw fail("expected a key") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private func isBareKeyByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-")
    }

    /// A value `depth` levels below the root (where an array or inline table it opens sits).
    private mutating func value(depth: Int) throws(TOMLError) -> TOMLValue {
        guard let byte = current else { throw fail("expected a value at the end of the file") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return .string(try string())
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "{"): return try inlineTable(depth: depth)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if matchWord("true") { return .bool(true) }
            if matchWord("false") { return .bool(false) }
            throw fail("expected true or false")
        default: return .integer(try integer())
        }
    }

    private mutating func matchWord(_ word: String) -> Bool {
        let utf8 = Array(word.utf8)
        guard position + utf8.count <= bytes.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            return false
        }
        let after = position + utf8.count < bytes.count ? bytes[position + utf8.count] : UInt8(ascii: " ")
        guard !isBareKeyByte(after) else { return false }
        position += utf8.count
        return true
    }

    private mutating func integer() throws(TOMLError) -> Int {
        let start = position
        while let byte = current,
            isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        {
            position += 1
        }
        var text = String(decoding: bytes[start..<position], as: UTF8.self).replacingUnderscores()
        guard !text.isEmpty else { throw fail("expected a value") }
        if text.contains(".") || text.contains(":") || text.lowercased() == "inf" || text.lowercased() == "nan" {
            throw fail("\"\(text)\": floats and dates are not used in the quirk database")
        }
        var negative = false
        if text.hasPrefix("+") || text.hasPrefix("-") {
            negative = text.hasPrefix("-")
            text.removeFirst()
        }
        let radix: Int
        if text.hasPrefix("0x") {
            radix = 16
        } else if text.hasPrefix("0o") {
            radix = 8
        } else if text.hasPrefix("0b") {
            radix = 2
        } else {
            radix = 10
        }
        let digits = radix == 10 ? Substring(text) : text.dropFirst(2)
        // UInt64 takes no second sign ("--1") and holds the magnitude of Int.min, so negating
        // below cannot overflow.
        guard digits.first?.isHexDigit == true, let magnitude = UInt64(digits, radix: radix) else {
            throw fail("\"\(text)\" is not a number")
        }
        if negative {
            guard magnitude <= UInt64(Int.max) + 1 else { throw fail("\"-\(text)\" is below the smallest integer") }
            return Int(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int.max) else { throw fail("\"\(text)\" is above the largest integer") }
        return Int(magnitude)
    }

    private mutating func string() throws(TOMLError) -> String {
        let quote = bytes[position]
        if quote == UInt8(ascii: "\""), position + 2 < bytes.count, bytes[position + 1] == quote,
            bytes[position + 2] == quote
        {
            return try multilineString()
        }
        position += 1
        var result: [UInt8] = []
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else { throw fail("unterminated string") }
            position += 1
            if byte == quote { return String(decoding: result, as: UTF8.self) }
            if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                guard let escaped = current else { throw fail("unterminated string") }
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): result.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): result.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): result.append(escaped)
                default: throw fail("unknown escape \\\(Character(UnicodeScalar(escaped)))")
                }
            } else {
                result.append(byte)
            }
        }
    }

    /// `"""…"""`: a newline right after the opening quotes is dropped; no escapes but \\ and \".
    private mutating func multilineString() throws(TOMLError) -> String {
        let startLine = line
        position += 3
        if current == UInt8(ascii: "\n") {
            position += 1
            line += 1
        }
        var result: [UInt8] = []
        while true {
            guard let byte = current else {
                throw TOMLError(line: startLine, message: "unterminated multi-line string")
            }
            if byte == UInt8(ascii: "\""), position + 2 < bytes.count, bytes[position + 1] == byte,
                bytes[position + 2] == byte
            {
                position += 3
                return String(decoding: result, as: UTF8.self)
            }
            position += 1
            if byte == UInt8(ascii: "\n") { line += 1 }
            if byte == UInt8(ascii: "\\"), let next = current, next == UInt8(ascii: "\\") || next == UInt8(ascii: "\"")
            {
                result.append(next)
                position += 1
            } else {
                result.append(byte)
            }
        }
    }

    private mutating func array(depth: Int) throws(TOMLError) -> TOMLValue {
        try checkNesting(depth)
        position += 1
        var values: [TOMLValue] = []
        while true {
            skipBlankAndComments()
            guard let byte = current else { throw fail("unterminated array") }
            if byte == UInt8(ascii: "]") {
                position += 1
                return .array(values)
            }
            values.append(try value(depth: depth + 1))
            skipBlankAndComments()
            if current == UInt8(ascii: ",") {
                position += 1
            } else if current != UInt8(ascii: "]") {
                throw fail("expected , or ] in an array")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        try checkNesting(depth)
        let table = TOMLTable(line: line)
        position += 1
        skipSpaces()
        if current == UInt8(ascii: "}") {
            position += 1
            return .table(table)
        }
        while true {
            skipSpaces()
            try keyValue(into: table, depth: depth)
            skipSpaces()
            if current == UInt8(ascii: ",") {
                position += 1
            } else if current == UInt8(ascii: "}") {
                position += 1
                return .table(table)
            } else {
                throw fail("expected , or } in an inline table")
            }
        }
    }

    private mutating func skipSpaces() {
        while current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") { position += 1 }
    }

    private mutating func skipBlankAndComments() {
        while let byte = current {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                position += 1
            } else if byte == UInt8(ascii: "\n") {
                position += 1
                line += 1
            } else if byte == UInt8(ascii: "#") {
                while let next = current, next != UInt8(ascii: "\n") { position += 1 }
            } else {
                return
            }
        }
    }

    private mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        if current == UInt8(ascii: "#") {
            while let next = current, next != UInt8(ascii: "\n") { position += 1 }
        }
        if current == UInt8(ascii: "\r") { position += 1 }
        guard current == nil || current == UInt8(ascii: "\n") else { throw fail("unexpected text after the value") }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
