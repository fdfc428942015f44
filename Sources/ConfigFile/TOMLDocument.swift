/// A TOML reader for vfioctl's configuration files (quirk files, `aerd.toml`, `hook.toml`,
/// desired-state files) that keeps the line of every key, so a bad entry is reported as
/// `file:line: what is wrong`. It reads the part of TOML 1.0 those files use: comments,
/// `[table]`, `[[array.of.tables]]`, bare/quoted/dotted keys, basic and literal strings (also
/// multi-line), integers (decimal, 0x, 0o, 0b, `_`), booleans, arrays (multi-line) and inline
/// tables. Dates and floats are refused with a message saying so.
///
/// Tables and arrays nest at most `TOMLParser.maximumNesting` levels deep.
public final class TOMLTable {
    public struct Entry {
        public var key: String
        public var value: TOMLValue
        public var line: Int
    }

    /// How a table came to exist, which decides what may still add to it (TOML 1.0, "Table"):
    /// a header may define a table only its sub-table headers created, dotted keys extend only
    /// tables dotted keys created, and an inline table is complete where it closes.
    enum Origin {
        /// Created on the way to a deeper header (`a` of `[a.b]`); `[a]` may still define it.
        case implicit
        /// Defined by its own `[header]` or `[[header]]`.
        case header
        /// Created by a dotted key (`a` of `a.b = 1`).
        case dotted
        /// `{ … }`: nothing may add to it later.
        case inline
    }

    public private(set) var entries: [Entry] = []
    /// Position of each key in `entries`: a file with many keys must not cost a scan per key.
    private var positions: [String: Int] = [:]
    /// Line of the header (or inline table, or first dotted key) that defined this table.
    public private(set) var line: Int
    private(set) var origin: Origin

    init(line: Int, origin: Origin) {
        self.line = line
        self.origin = origin
    }

    public subscript(key: String) -> Entry? { positions[key].map { entries[$0] } }

    func insert(_ key: String, _ value: TOMLValue, line: Int) throws(TOMLError) {
        guard self[key] == nil else { throw TOMLError(line: line, message: "key \"\(key)\" is defined twice") }
        append(Entry(key: key, value: value, line: line))
    }

    private func append(_ entry: Entry) {
        positions[entry.key] = entries.count
        entries.append(entry)
    }

    /// The table at `key` on the way to a deeper header (`a` of `[a.b]`): created when
    /// missing, the last element of an array of tables; an inline table or a value is an error.
    func headerStep(_ key: String, line: Int) throws(TOMLError) -> TOMLTable {
        switch self[key]?.value {
        case nil:
            let table = TOMLTable(line: line, origin: .implicit)
            append(Entry(key: key, value: .table(table), line: line))
            return table
        case .table(let table)?:
            guard table.origin != .inline else {
                throw TOMLError(
                    line: line,
                    message: "\"\(key)\" is an inline table (line \(table.line)); a header cannot add to it")
            }
            return table
        case .tableArray(let tables)?:
            // `appendToArray` never leaves an array of tables empty.
            return tables[tables.count - 1]
        default: throw TOMLError(line: line, message: "\"\(key)\" is a value, not a table")
        }
    }

    /// The table a `[header]` ending in `key` defines. A table only deeper headers created
    /// (`[a.b]` before `[a]`) is defined now; one defined before, by a header, dotted keys or
    /// inline, is an error, as is an array of tables or a value.
    func define(_ key: String, header: String, line: Int) throws(TOMLError) -> TOMLTable {
        switch self[key]?.value {
        case nil:
            let table = TOMLTable(line: line, origin: .header)
            append(Entry(key: key, value: .table(table), line: line))
            return table
        case .table(let table)?:
            switch table.origin {
            case .implicit:
                table.origin = .header
                table.line = line
                entries[positions[key]!].line = line
                return table
            case .header:
                throw TOMLError(line: line, message: "table [\(header)] is defined twice")
            case .dotted:
                throw TOMLError(
                    line: line, message: "table [\(header)] is already defined by dotted keys on line \(table.line)")
            case .inline:
                throw TOMLError(
                    line: line, message: "table [\(header)] is already defined as an inline table on line \(table.line)"
                )
            }
        case .tableArray?:
            throw TOMLError(line: line, message: "[\(header)] is an array of tables: write [[\(header)]]")
        default: throw TOMLError(line: line, message: "\"\(key)\" is a value, not a table")
        }
    }

    /// The table the dotted key part `key` (`a` of `a.b = 1`) opens: created when missing;
    /// one dotted keys created before is extended; any other table or value is an error.
    func dottedStep(_ key: String, line: Int) throws(TOMLError) -> TOMLTable {
        switch self[key]?.value {
        case nil:
            let table = TOMLTable(line: line, origin: .dotted)
            append(Entry(key: key, value: .table(table), line: line))
            return table
        case .table(let table)? where table.origin == .dotted: return table
        case .table(let table)?:
            throw TOMLError(
                line: line, message: "\"\(key)\" is a table defined on line \(table.line); dotted keys cannot add to it"
            )
        case .tableArray?:
            throw TOMLError(line: line, message: "\"\(key)\" is an array of tables; dotted keys cannot add to it")
        default: throw TOMLError(line: line, message: "\"\(key)\" is a value, not a table")
        }
    }

    func appendToArray(_ key: String, line: Int) throws(TOMLError) -> TOMLTable {
        let table = TOMLTable(line: line, origin: .header)
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
        let root = TOMLTable(line: 1, origin: .header)
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
                for key in path.dropLast() { parent = try parent.headerStep(key, line: headerLine) }
                let last = path[path.count - 1]
                if isArray {
                    table = try parent.appendToArray(last, line: headerLine)
                } else {
                    table = try parent.define(last, header: path.joined(separator: "."), line: headerLine)
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
        for key in path.dropLast() { target = try target.dottedStep(key, line: keyLine) }
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
        let written = String(decoding: bytes[start..<position], as: UTF8.self)
        var text = written.replacingUnderscores()
        guard !text.isEmpty else { throw fail("expected a value") }
        if text.contains(".") || text.contains(":") || text.lowercased().hasSuffix("inf")
            || text.lowercased().hasSuffix("nan")
        {
            throw fail("\"\(text)\": floats and dates are not used in vfioctl's files")
        }
        // TOML: each underscore stands between two digits (1_000, 0xdead_beef).
        let characters = Array(written)
        for (index, character) in characters.enumerated() where character == "_" {
            guard index > 0, index + 1 < characters.count, characters[index - 1].isHexDigit,
                characters[index + 1].isHexDigit
            else { throw fail("\"\(written)\": an underscore must stand between two digits") }
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
        if radix == 10, digits.count > 1, digits.first == "0" {
            throw fail("\"\(written)\": a decimal integer has no leading zeros (write 0o for octal)")
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
        if position + 2 < bytes.count, bytes[position + 1] == quote, bytes[position + 2] == quote {
            return try multilineString(quote: quote)
        }
        position += 1
        var result: [UInt8] = []
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else { throw fail("unterminated string") }
            position += 1
            if byte == quote { return String(decoding: result, as: UTF8.self) }
            if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                try escape(into: &result)
            } else {
                try checkNotControl(byte)
                result.append(byte)
            }
        }
    }

    /// TOML strings hold no control character but tab (U+0000–U+001F, U+007F): the others
    /// must be written as escapes.
    private func checkNotControl(_ byte: UInt8) throws(TOMLError) {
        guard byte >= 0x20 || byte == UInt8(ascii: "\t"), byte != 0x7f else {
            let code = String(byte, radix: 16, uppercase: true)
            let hex = String(repeating: "0", count: 4 - code.count) + code
            throw fail("control character U+\(hex) in a string: write it as an escape (\\u\(hex))")
        }
    }

    /// The escape after a backslash in a basic string: \b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX.
    private mutating func escape(into result: inout [UInt8]) throws(TOMLError) {
        guard let escaped = current else { throw fail("unterminated string") }
        position += 1
        switch escaped {
        case UInt8(ascii: "b"): result.append(0x08)
        case UInt8(ascii: "t"): result.append(UInt8(ascii: "\t"))
        case UInt8(ascii: "n"): result.append(UInt8(ascii: "\n"))
        case UInt8(ascii: "f"): result.append(0x0c)
        case UInt8(ascii: "r"): result.append(UInt8(ascii: "\r"))
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): result.append(escaped)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = escaped == UInt8(ascii: "u") ? 4 : 8
            let end = position + count
            guard end <= bytes.count, bytes[position..<end].allSatisfy({ Character(UnicodeScalar($0)).isHexDigit }),
                let code = UInt32(String(decoding: bytes[position..<end], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(code)
            else {
                throw fail("\\\(Character(UnicodeScalar(escaped))) needs \(count) hex digits of a Unicode scalar value")
            }
            position = end
            result.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: throw fail("unknown escape \\\(Character(UnicodeScalar(escaped)))")
        }
    }

    /// `"""…"""` or `'''…'''`: a line break right after the opening quotes is dropped; a basic
    /// one takes the escapes of `escape` and a backslash at the end of a line, which drops the
    /// line break and the blanks after it. Up to two quotes may end the content before the
    /// closing three.
    private mutating func multilineString(quote: UInt8) throws(TOMLError) -> String {
        let startLine = line
        position += 3
        if current == UInt8(ascii: "\r"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "\n") {
            position += 1
        }
        if current == UInt8(ascii: "\n") {
            position += 1
            line += 1
        }
        var result: [UInt8] = []
        while true {
            guard let byte = current else {
                throw TOMLError(line: startLine, message: "unterminated multi-line string")
            }
            if byte == quote, position + 2 < bytes.count, bytes[position + 1] == quote, bytes[position + 2] == quote {
                // `a"""""` is `a""`: the closing three are the last quotes of the run.
                var run = 3
                while run < 5, position + run < bytes.count, bytes[position + run] == quote { run += 1 }
                result.append(contentsOf: repeatElement(quote, count: run - 3))
                position += run
                return String(decoding: result, as: UTF8.self)
            }
            position += 1
            if byte == UInt8(ascii: "\n") {
                line += 1
                result.append(byte)
            } else if byte == UInt8(ascii: "\\"), quote == UInt8(ascii: "\"") {
                if !skipLineEndingBackslash() { try escape(into: &result) }
            } else if byte == UInt8(ascii: "\r"), current == UInt8(ascii: "\n") {
                result.append(byte)
            } else {
                try checkNotControl(byte)
                result.append(byte)
            }
        }
    }

    /// After a backslash in a multi-line basic string: when only blanks follow it on its line,
    /// skips them, the line break and every blank and line break after it, and returns true.
    private mutating func skipLineEndingBackslash() -> Bool {
        var probe = position
        while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\t") {
            probe += 1
        }
        if probe < bytes.count, bytes[probe] == UInt8(ascii: "\r") { probe += 1 }
        guard probe < bytes.count, bytes[probe] == UInt8(ascii: "\n") else { return false }
        position = probe
        while let byte = current,
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r")
        {
            if byte == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }
        return true
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
            guard current != nil else { throw fail("unterminated array") }
            if current == UInt8(ascii: ",") {
                position += 1
            } else if current != UInt8(ascii: "]") {
                throw fail("expected , or ] in an array")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        try checkNesting(depth)
        let table = TOMLTable(line: line, origin: .inline)
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
