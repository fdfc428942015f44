import ConfigFile
import QuirkDB
import Testing

/// Hostile TOML (a local quirk file is read by root): nesting, integers at the edges.
@Suite("TOML reader limits")
struct TOMLLimitTests {
    /// Parses `text` as the quirk file `deep.toml` and returns the error it must give.
    private func quirkError(_ text: String) throws -> QuirkFileError {
        do {
            _ = try QuirkDatabase.parse([(name: "deep.toml", text: text)])
        } catch {
            return error
        }
        Issue.record("deep.toml was accepted")
        throw QuirkFileError(file: "deep.toml", line: 0, message: "accepted")
    }

    /// The TOMLError `body` throws, as `line N: message`; nil when it throws none.
    private func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return (error as? TOMLError)?.description ?? "not a TOMLError: \(error)"
        }
    }

    /// 50,000 levels of one kind of nesting, and the line the error must name.
    static func deep(_ kind: String) -> (text: String, line: Int) {
        let many = 50_000
        switch kind {
        case "arrays": return ("[[quirk]]\nid = \"a\"\ntitle = " + String(repeating: "[", count: many), 3)
        case "inline tables": return ("[[quirk]]\n\nx = " + String(repeating: "{ a = ", count: many) + "1", 3)
        case "multi-line arrays":
            return ("# comment\na = [\n[\n[\n1, " + String(repeating: "[", count: many), 5)
        case "dotted key": return ("a" + String(repeating: ".a", count: many) + " = 1\n", 1)
        default: return ("\n[a" + String(repeating: ".a", count: many) + "]\n", 2)
        }
    }

    @Test(
        "50,000 levels of arrays, inline tables, dotted keys or header keys are an error at file:line, not a crash",
        arguments: ["arrays", "inline tables", "multi-line arrays", "dotted key", "header"])
    func deepNesting(kind: String) throws {
        let (text, line) = Self.deep(kind)
        let error = try quirkError(text)
        #expect(error.file == "deep.toml")
        #expect(error.line == line)
        #expect(error.message == "tables and arrays nest more than 64 levels deep")
    }

    @Test("64 levels are read, 65 are refused")
    func nestingBoundary() throws {
        func nested(_ depth: Int) -> String {
            "a = " + String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth) + "\n"
        }
        var value = try #require(try TOMLParser.parse(nested(64))["a"]?.value)
        var levels = 0
        while case .array(let items) = value, let first = items.first {
            levels += 1
            value = first
        }
        #expect(levels == 64)
        guard case .integer(1) = value else {
            Issue.record("innermost value is \(value.typeName)")
            return
        }
        #expect(
            refusal { _ = try TOMLParser.parse(nested(65)) } == "line 1: "
                + "tables and arrays nest more than 64 levels deep")
        // Header levels and dotted keys below them add up.
        let header = "[" + Array(repeating: "t", count: 60).joined(separator: ".") + "]\n"
        #expect(
            refusal { _ = try TOMLParser.parse(header + "a.b.c.d.e = 1\n") } == "line 2: "
                + "tables and arrays nest more than 64 levels deep")
        #expect(try TOMLParser.parse(header + "a.b.c.d = 1\n").entries.count == 1)
    }

    @Test("integers at and past the edges of Int are read or refused, never trap")
    func integerEdges() throws {
        func integer(_ literal: String) throws -> Int? {
            guard case .integer(let value)? = try TOMLParser.parse("v = \(literal)\n")["v"]?.value else { return nil }
            return value
        }
        #expect(try integer("-9223372036854775808") == Int.min)
        #expect(try integer("9223372036854775807") == Int.max)
        #expect(try integer("-0x10") == -16)
        #expect(
            refusal { _ = try integer("--9223372036854775808") } == "line 1: "
                + "\"-9223372036854775808\" is not a number")
        #expect(
            refusal { _ = try integer("-0x-8000000000000000") } == "line 1: "
                + "\"0x-8000000000000000\" is not a number")
        #expect(
            refusal { _ = try integer("9223372036854775808") } == "line 1: "
                + "\"9223372036854775808\" is above the largest integer")
        #expect(
            refusal { _ = try integer("-9223372036854775809") } == "line 1: "
                + "\"-9223372036854775809\" is below the smallest integer")
    }

    @Test("a table with many keys still finds each one and still refuses a repeated key")
    func manyKeys() throws {
        let text = (0..<20_000).map { "k\($0) = \($0)" }.joined(separator: "\n") + "\nk7 = 1\n"
        #expect(refusal { _ = try TOMLParser.parse(text) } == "line 20001: " + "key \"k7\" is defined twice")
        let table = try TOMLParser.parse((0..<20_000).map { "k\($0) = \($0)" }.joined(separator: "\n"))
        guard case .integer(19_999)? = table["k19999"]?.value else {
            Issue.record("k19999 is \(String(describing: table["k19999"]?.value.typeName))")
            return
        }
        #expect(table["k20000"] == nil)
        #expect(table.entries.map(\.key).prefix(3) == ["k0", "k1", "k2"])
    }
}
