import ConfigFile
import Testing

/// The TOML reader against the TOML 1.0 rules for the part of the language it reads (the
/// toml-test "valid" and "invalid" cases for strings, integers, booleans, arrays, inline
/// tables, tables and arrays of tables, written out here). Floats and dates are outside it.
@Suite("TOML reader: TOML 1.0 conformance")
struct TOMLConformanceTests {
    /// A document as one line: `{key = value, …}`, strings in Swift's debug quoting, arrays
    /// of tables as `[[{…}, …]]`, in file order.
    static func render(_ value: TOMLValue) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .integer(let number): String(number)
        case .bool(let flag): String(flag)
        case .array(let items): "[" + items.map(render).joined(separator: ", ") + "]"
        case .table(let table): render(table)
        case .tableArray(let tables): "[[" + tables.map(render).joined(separator: ", ") + "]]"
        }
    }

    /// `text` in double quotes, with `"` and `\` escaped and control characters as `\u{HEX}`.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": result += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    static func render(_ table: TOMLTable) -> String {
        "{" + table.entries.map { "\($0.key) = \(render($0.value))" }.joined(separator: ", ") + "}"
    }

    /// The error `text` gives, as `line N: message`; nil when it parses.
    static func refusal(_ text: String) -> String? {
        do {
            _ = try TOMLParser.parse(text)
            return nil
        } catch {
            return error.description
        }
    }

    static let validDocuments: [(String, String)] = [
        // Comments and blank lines.
        ("# only a comment\n\n   \n", "{}"),
        ("a = 1 # after a value\n# own line\n", "{a = 1}"),
        ("a = 1\r\nb = 2\r\n", "{a = 1, b = 2}"),
        // Keys: bare, quoted, empty quoted, dotted, with blanks around the dots.
        (
            "bare_key-1 = 1\n\"quoted key\" = 2\n'literal key' = 3\n",
            "{bare_key-1 = 1, quoted key = 2, literal key = 3}"
        ),
        ("\"\" = 1\n", "{ = 1}"),
        ("1234 = 1\n", "{1234 = 1}"),
        ("a.b.c = 1\na . b . d = 2\n", "{a = {b = {c = 1, d = 2}}}"),
        ("site.\"google.com\" = true\n", "{site = {google.com = true}}"),
        // Basic strings and every escape.
        ("s = \"a\\tb\\nc\\\\d\\\"e\"\n", #"{s = "a\u{9}b\u{A}c\\d\"e"}"#),
        ("s = \"\\b\\f\\r\"\n", #"{s = "\u{8}\u{C}\u{D}"}"#),
        ("s = \"\\u00e9\\U0001F600\"\n", #"{s = "é😀"}"#),
        ("s = \"tab\there\"\n", #"{s = "tab\u{9}here"}"#),
        ("s = \"ünï\"\n", #"{s = "ünï"}"#),
        // Literal strings take backslashes as they are.
        ("s = 'C:\\Users\\n'\n", #"{s = "C:\\Users\\n"}"#),
        // Multi-line strings: first line break dropped, line-ending backslash, quotes inside.
        ("s = \"\"\"\nline one\nline two\"\"\"\n", #"{s = "line one\u{A}line two"}"#),
        ("s = \"\"\"\\\n    joined \\\n    here\"\"\"\n", #"{s = "joined here"}"#),
        ("s = \"\"\"two \"\" quotes\"\"\"\"\"\n", #"{s = "two \"\" quotes\"\""}"#),
        ("s = '''\nraw \\n '' here'''\n", #"{s = "raw \\n '' here"}"#),
        ("s = \"\"\"\"\"\"\n", #"{s = ""}"#),
        // Integers.
        ("a = 0\nb = +17\nc = -17\nd = 1_000\ne = -0\n", "{a = 0, b = 17, c = -17, d = 1000, e = 0}"),
        (
            "h = 0xDEADbeef\no = 0o755\nb = 0b1101\nu = 0xdead_beef\n",
            "{h = 3735928559, o = 493, b = 13, u = 3735928559}"
        ),
        // Booleans.
        ("t = true\nf = false\n", "{t = true, f = false}"),
        // Arrays: empty, mixed types, nested, multi-line with comments and a trailing comma.
        (
            "a = []\nb = [1, \"two\", true]\nc = [[1, 2], [\"x\"]]\n",
            #"{a = [], b = [1, "two", true], c = [[1, 2], ["x"]]}"#
        ),
        ("a = [\n  1, # one\n  2,\n]\n", "{a = [1, 2]}"),
        // Inline tables, also nested and with dotted keys.
        ("p = { x = 1, y = 2 }\ne = {}\n", "{p = {x = 1, y = 2}, e = {}}"),
        ("p = { a.b = 1, a.c = { d = true } }\n", "{p = {a = {b = 1, c = {d = true}}}}"),
        ("a = [{ x = 1 }, { x = 2 }]\n", "{a = [{x = 1}, {x = 2}]}"),
        // Tables: empty, sub-tables, a super-table after its sub-table, whitespace in headers.
        ("[a]\n[b]\nx = 1\n", "{a = {}, b = {x = 1}}"),
        ("[a.b.c]\nx = 1\n", "{a = {b = {c = {x = 1}}}}"),
        ("[a.b]\nx = 1\n[a]\ny = 2\n", "{a = {b = {x = 1}, y = 2}}"),
        ("[x.y.z.w]\n[x]\n", "{x = {y = {z = {w = {}}}}}"),
        ("[ a . \"b c\" ]\nk = 1\n", "{a = {b c = {k = 1}}}"),
        // Dotted keys in a table; a header below a table dotted keys made.
        (
            "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
            #"{fruit = {apple = {color = "red", taste = {sweet = true}, texture = {smooth = true}}}}"#
        ),
        // Arrays of tables, with sub-tables and nested arrays of tables.
        ("[[p]]\nn = 1\n[[p]]\n[[p]]\nn = 3\n", "{p = [[{n = 1}, {}, {n = 3}]]}"),
        (
            "[[f]]\nn = \"a\"\n[f.d]\nc = 1\n[[f.v]]\nn = \"x\"\n[[f.v]]\nn = \"y\"\n[[f]]\nn = \"b\"\n",
            #"{f = [[{n = "a", d = {c = 1}, v = [[{n = "x"}, {n = "y"}]]}, {n = "b"}]]}"#
        ),
        ("[a.b]\n[[a.c]]\n", "{a = {b = {}, c = [[{}]]}}"),
    ]

    @Test("valid documents read to the values TOML 1.0 gives them", arguments: validDocuments)
    func valid(text: String, expected: String) throws {
        #expect(Self.render(try TOMLParser.parse(text)) == expected)
    }

    static let invalidDocuments: [(String, String)] = [
        // Keys.
        ("= 1\n", "line 1: expected a key"),
        ("a b = 1\n", "line 1: expected = after key \"a\""),
        ("a =\n", "line 1: expected a value"),
        ("a\n= 1\n", "line 1: expected = after key \"a\""),
        ("a = 1 b = 2\n", "line 1: unexpected text after the value"),
        ("a. = 1\n", "line 1: expected a key"),
        ("a = 1\na = 2\n", "line 2: key \"a\" is defined twice"),
        ("a = 1\n\"a\" = 2\n", "line 2: key \"a\" is defined twice"),
        ("a.b = 1\na.b = 2\n", "line 2: key \"b\" is defined twice"),
        ("a = 1\na.b = 2\n", "line 2: \"a\" is a value, not a table"),
        // Strings.
        ("s = \"open\n", "line 1: unterminated string"),
        ("s = 'open\n", "line 1: unterminated string"),
        ("s = \"\"\"\nopen\n", "line 1: unterminated multi-line string"),
        ("s = \"\\x41\"\n", "line 1: unknown escape \\x"),
        ("s = \"\\u12\"\n", "line 1: \\u needs 4 hex digits of a Unicode scalar value"),
        ("s = \"\\uD800\"\n", "line 1: \\u needs 4 hex digits of a Unicode scalar value"),
        ("s = \"\\U00110000\"\n", "line 1: \\U needs 8 hex digits of a Unicode scalar value"),
        ("s = \"bell\u{07}\"\n", "line 1: control character U+0007 in a string: write it as an escape (\\u0007)"),
        ("s = 'del\u{7F}'\n", "line 1: control character U+007F in a string: write it as an escape (\\u007F)"),
        (
            "s = \"\"\"\nnul\u{00}\"\"\"\n",
            "line 2: control character U+0000 in a string: write it as an escape (\\u0000)"
        ),
        // Integers.
        ("a = 012\n", "line 1: \"012\": a decimal integer has no leading zeros (write 0o for octal)"),
        ("a = 1__0\n", "line 1: \"1__0\": an underscore must stand between two digits"),
        ("a = _1\n", "line 1: \"_1\": an underscore must stand between two digits"),
        ("a = 1_\n", "line 1: \"1_\": an underscore must stand between two digits"),
        ("a = 0x_1\n", "line 1: \"0x_1\": an underscore must stand between two digits"),
        ("a = 0X1F\n", "line 1: \"0X1F\" is not a number"),
        ("a = 0b102\n", "line 1: \"0b102\" is not a number"),
        ("a = 0o8\n", "line 1: \"0o8\" is not a number"),
        ("a = 1.5\n", "line 1: \"1.5\": floats and dates are not used in vfioctl's files"),
        ("a = inf\n", "line 1: \"inf\": floats and dates are not used in vfioctl's files"),
        // Booleans.
        ("a = True\n", "line 1: \"True\" is not a number"),
        ("a = truely\n", "line 1: expected true or false"),
        // Arrays.
        ("a = [1 2]\n", "line 1: expected , or ] in an array"),
        ("a = [1,,2]\n", "line 1: expected a value"),
        ("a = [,]\n", "line 1: expected a value"),
        ("a = [1,\n2\n", "line 3: unterminated array"),
        // Inline tables: one line, no trailing comma, closed for good.
        ("p = { x = 1, }\n", "line 1: expected a key"),
        ("p = { x = 1\n}\n", "line 1: expected , or } in an inline table"),
        ("p = { x = 1, x = 2 }\n", "line 1: key \"x\" is defined twice"),
        ("p = { x = 1 }\np.y = 2\n", "line 2: \"p\" is a table defined on line 1; dotted keys cannot add to it"),
        ("p = { x = 1 }\n[p]\n", "line 2: table [p] is already defined as an inline table on line 1"),
        ("p = { x = 1 }\n[p.q]\n", "line 2: \"p\" is an inline table (line 1); a header cannot add to it"),
        // Tables.
        ("[]\n", "line 1: expected a key"),
        ("[a\n", "line 1: expected ] to close the table header"),
        ("[a]b = 1\n", "line 1: unexpected text after the value"),
        ("[a]\n[a]\n", "line 2: table [a] is defined twice"),
        ("[a]\nb = 1\n[a.b]\n", "line 3: \"b\" is a value, not a table"),
        ("[a.b]\n[a]\n[a]\n", "line 3: table [a] is defined twice"),
        ("[a]\n[a.b]\n[a]\n", "line 3: table [a] is defined twice"),
        ("a = 1\n[a]\n", "line 2: \"a\" is a value, not a table"),
        ("a = 1\n[a.b]\n", "line 2: \"a\" is a value, not a table"),
        ("a.b = 1\n[a]\n", "line 2: table [a] is already defined by dotted keys on line 1"),
        (
            "[fruit]\napple.color = \"red\"\n[fruit.apple]\n",
            "line 3: table [fruit.apple] is already defined by dotted keys on line 2"
        ),
        (
            "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
            "line 4: \"b\" is a table defined on line 1; dotted keys cannot add to it"
        ),
        ("[a]\nx.y = 1\n[a.x]\n", "line 3: table [a.x] is already defined by dotted keys on line 2"),
        // Arrays of tables.
        ("[[a]\n", "line 1: expected ]] to close the array-of-tables header"),
        ("a = []\n[[a]]\n", "line 2: \"a\" is already a table or value, not an array of tables"),
        ("[a]\n[[a]]\n", "line 2: \"a\" is already a table or value, not an array of tables"),
        ("[[a]]\n[a]\n", "line 2: [a] is an array of tables: write [[a]]"),
        ("[[f]]\n[f.v]\n[[f.v]]\n", "line 3: \"v\" is already a table or value, not an array of tables"),
        ("[[a]]\nb.c = 1\n[[a.b]]\n", "line 3: \"b\" is already a table or value, not an array of tables"),
    ]

    @Test("invalid documents are refused at their line, saying what is wrong", arguments: invalidDocuments)
    func invalid(text: String, refusal: String) {
        #expect(Self.refusal(text) == refusal, "\(text.debugDescription)")
    }

    @Test("a super-table defined after its sub-table keeps its keys and takes its header's line")
    func superTableAfterSubTable() throws {
        let root = try TOMLParser.parse("[a.b]\nx = 1\n\n[a]\ny = 2\n")
        guard case .table(let a)? = root["a"]?.value else {
            Issue.record("a is not a table")
            return
        }
        #expect(a.line == 4)
        #expect(root["a"]?.line == 4)
        #expect(a["y"]?.line == 5)
        #expect(Self.render(a) == "{b = {x = 1}, y = 2}")
    }
}
