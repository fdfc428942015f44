/// One table of a parsed configuration file with typed, line-aware accessors: every value
/// that is missing, of the wrong type, out of range or unknown becomes a `ConfigFileError`
/// naming the file, the line of the key (or of the table's header) and what was expected.
///
/// ```swift
/// let root = try ConfigTable.parse(text, file: path)
/// try root.allowOnly(["sriov"])
/// for sriov in try root.tables("sriov") {
///     try sriov.allowOnly(["pf", "vfs"])
///     let vfs = try sriov.integer("vfs", atLeast: 0)
/// }
/// ```
public struct ConfigTable {
    /// The file name errors carry.
    public let file: String
    public let table: TOMLTable
    /// How messages name this table: `the top level`, `[quirk.match]`, `[[sriov]]`.
    public let name: String
    /// Dotted path from the root (empty at the root), for the names of sub-tables.
    private let path: String

    private init(file: String, table: TOMLTable, name: String, path: String) {
        self.file = file
        self.table = table
        self.name = name
        self.path = path
    }

    /// Parses `text`, the contents of `file`, into its root table; a syntax error becomes a
    /// `ConfigFileError` at its line.
    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> ConfigTable {
        do {
            return ConfigTable(file: file, table: try TOMLParser.parse(text), name: "the top level", path: "")
        } catch {
            throw ConfigFileError(file: file, line: error.line, message: error.message)
        }
    }

    /// Line of the header (or inline table) that opened this table.
    public var line: Int { table.line }

    /// The entries in file order.
    public var entries: [TOMLTable.Entry] { table.entries }

    public subscript(key: String) -> TOMLTable.Entry? { table[key] }

    /// Line of `key`, or of the table when the key is absent (where it should have been).
    public func line(of key: String) -> Int { table[key]?.line ?? table.line }

    /// An error at `key`'s line (the table's when the key is absent or nil).
    public func error(_ message: String, at key: String? = nil) -> ConfigFileError {
        ConfigFileError(file: file, line: key.map(line(of:)) ?? table.line, key: key, message: message)
    }

    /// Refuses the first key, in file order, that is not in `known`.
    public func allowOnly(_ known: Set<String>) throws(ConfigFileError) {
        for entry in table.entries where !known.contains(entry.key) {
            throw error(
                "unknown key \"\(entry.key)\" in \(name); known: \(known.sorted().joined(separator: ", "))",
                at: entry.key)
        }
    }

    /// The value of `key` read by `read`; a missing key is an error at the table's line.
    public func required<Value>(
        _ key: String, _ read: (String) throws(ConfigFileError) -> Value?
    ) throws(ConfigFileError) -> Value {
        guard let value = try read(key) else { throw error("missing \"\(key)\"") }
        return value
    }

    private func typeError(_ key: String, _ expected: String, _ value: TOMLValue) -> ConfigFileError {
        error("\"\(key)\" must be \(expected), not \(value.typeName)", at: key)
    }

    // MARK: - Values

    /// The raw value of `key`, for values of more than one type (an id or a "0xLOW-0xHIGH" range).
    public func value(_ key: String) -> TOMLValue? { table[key]?.value }

    public func string(_ key: String) throws(ConfigFileError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string", value) }
        return text
    }

    public func nonEmptyString(_ key: String) throws(ConfigFileError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a non-empty string", value) }
        guard !text.isEmpty else { throw error("\"\(key)\" must be a non-empty string, not \"\"", at: key) }
        return text
    }

    /// A string that must be one of `choices`.
    public func string(_ key: String, oneOf choices: [String]) throws(ConfigFileError) -> String? {
        let expected = "one of " + choices.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, expected, value) }
        guard choices.contains(text) else { throw error("\"\(key)\" must be \(expected), not \"\(text)\"", at: key) }
        return text
    }

    public func integer(_ key: String) throws(ConfigFileError) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .integer(let number) = value else { throw typeError(key, "an integer", value) }
        return number
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigFileError) -> Int? {
        try integer(key, expected: "an integer in \(range.lowerBound)...\(range.upperBound)") { range.contains($0) }
    }

    public func integer(_ key: String, atLeast minimum: Int) throws(ConfigFileError) -> Int? {
        try integer(key, expected: "an integer ≥ \(minimum)") { $0 >= minimum }
    }

    private func integer(
        _ key: String, expected: String, _ accepts: (Int) -> Bool
    ) throws(ConfigFileError) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .integer(let number) = value else { throw typeError(key, expected, value) }
        guard accepts(number) else { throw error("\"\(key)\" must be \(expected), not \(number)", at: key) }
        return number
    }

    public func bool(_ key: String) throws(ConfigFileError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "true or false", value) }
        return flag
    }

    /// A string or an array of strings (`os = "linux"` is `os = ["linux"]`).
    public func stringArray(_ key: String) throws(ConfigFileError) -> [String]? {
        guard let value = value(key) else { return nil }
        let items: [TOMLValue]
        switch value {
        case .string: items = [value]
        case .array(let values): items = values
        default: throw typeError(key, "a string or an array of strings", value)
        }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item else {
                throw error("\"\(key)\" must hold strings only, not \(item.typeName)", at: key)
            }
            result.append(text)
        }
        return result
    }

    // MARK: - Tables

    private func childPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The sub-table at `key` (`[a.key]` or `key = { … }`).
    public func table(_ key: String) throws(ConfigFileError) -> ConfigTable? {
        guard let value = value(key) else { return nil }
        guard case .table(let sub) = value else { throw typeError(key, "a table", value) }
        return ConfigTable(file: file, table: sub, name: "[\(childPath(key))]", path: childPath(key))
    }

    /// The tables of the array of tables at `key` (`[[a.key]]`); none when the key is absent.
    public func tables(_ key: String) throws(ConfigFileError) -> [ConfigTable] {
        guard let value = value(key) else { return [] }
        guard case .tableArray(let list) = value else {
            throw typeError(key, "an array of tables (write [[\(childPath(key))]])", value)
        }
        return list.map { ConfigTable(file: file, table: $0, name: "[[\(childPath(key))]]", path: childPath(key)) }
    }
}
