import ConfigFile
import Testing

/// The typed accessors: each value read or refused as `file:line: what was expected`.
@Suite("Config tables: typed, line-aware accessors")
struct ConfigTableTests {
    static let text = """
        name = "x"
        empty = ""
        count = 7
        flag = true
        list = ["a", "b"]
        mixed = ["a", 1]
        [sub]
        k = 1
        [[items]]
        n = 1
        [[items]]
        n = 2
        """

    /// The message of the error `body` throws, as `file:line: message`, and the key it names.
    private func failure<T>(_ body: () throws -> T) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as ConfigFileError {
            return error.description + (error.key.map { " [key \($0)]" } ?? "")
        } catch {
            return "not a ConfigFileError: \(error)"
        }
    }

    @Test("values of the right type are read; absent keys are nil")
    func reads() throws {
        let root = try ConfigTable.parse(Self.text, file: "t.toml")
        #expect(try root.string("name") == "x")
        #expect(try root.nonEmptyString("name") == "x")
        #expect(try root.string("name", oneOf: ["x", "y"]) == "x")
        #expect(try root.integer("count") == 7)
        #expect(try root.integer("count", in: 0...7) == 7)
        #expect(try root.integer("count", atLeast: 7) == 7)
        #expect(try root.bool("flag") == true)
        #expect(try root.stringArray("list") == ["a", "b"])
        #expect(try root.stringArray("name") == ["x"])
        #expect(try root.string("absent") == nil)
        #expect(try root.tables("absent").isEmpty)
        #expect(try root.table("sub")?.integer("k") == 1)
        #expect(try root.table("sub")?.name == "[sub]")
        #expect(try root.tables("items").map { try $0.integer("n") } == [1, 2])
        #expect(try root.tables("items").map(\.line) == [9, 11])
        #expect(try root.required("name", root.string) == "x")
        try root.allowOnly(["name", "empty", "count", "flag", "list", "mixed", "sub", "items"])
    }

    @Test("a wrong value names file, line, key and what was expected")
    func refusals() throws {
        let root = try ConfigTable.parse(Self.text, file: "t.toml")
        #expect(failure { try root.string("count") } == "t.toml:3: \"count\" must be a string, not integer [key count]")
        #expect(
            failure { try root.nonEmptyString("empty") }
                == "t.toml:2: \"empty\" must be a non-empty string, not \"\" [key empty]")
        #expect(
            failure { try root.string("name", oneOf: ["a", "b"]) }
                == "t.toml:1: \"name\" must be one of \"a\", \"b\", not \"x\" [key name]")
        #expect(failure { try root.integer("flag") } == "t.toml:4: \"flag\" must be an integer, not boolean [key flag]")
        #expect(
            failure { try root.integer("count", in: 0...5) }
                == "t.toml:3: \"count\" must be an integer in 0...5, not 7 [key count]")
        #expect(
            failure { try root.integer("count", atLeast: 8) }
                == "t.toml:3: \"count\" must be an integer ≥ 8, not 7 [key count]")
        #expect(failure { try root.bool("name") } == "t.toml:1: \"name\" must be true or false, not string [key name]")
        #expect(
            failure { try root.stringArray("count") }
                == "t.toml:3: \"count\" must be a string or an array of strings, not integer [key count]")
        #expect(
            failure { try root.stringArray("mixed") }
                == "t.toml:6: \"mixed\" must hold strings only, not integer [key mixed]")
        #expect(failure { try root.table("name") } == "t.toml:1: \"name\" must be a table, not string [key name]")
        #expect(
            failure { try root.tables("sub") }
                == "t.toml:7: \"sub\" must be an array of tables (write [[sub]]), not table [key sub]")
        #expect(failure { try root.required("absent", root.string) } == "t.toml:1: missing \"absent\"")
        #expect(
            failure { try root.allowOnly(["name"]) }
                == "t.toml:2: unknown key \"empty\" in the top level; known: name [key empty]")
        let items = try root.tables("items")
        #expect(
            failure { try items[1].allowOnly(["m"]) } == "t.toml:12: unknown key \"n\" in [[items]]; known: m [key n]")
        #expect(failure { try items[1].required("m", items[1].integer) } == "t.toml:11: missing \"m\"")
    }

    @Test("a syntax error is a ConfigFileError at its line")
    func syntax() {
        #expect(failure { try ConfigTable.parse("a = 1\nb = \n", file: "s.toml") } == "s.toml:2: expected a value")
    }
}
