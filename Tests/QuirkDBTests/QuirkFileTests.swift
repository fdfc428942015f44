import ConfigFile
import QuirkDB
import TestSupport
import Testing

@Suite("Quirk files: format and errors")
struct QuirkFileTests {
    @Test("the built-in database loads, every entry has a reference and a unique id")
    func bundled() throws {
        let database = try QuirkDatabase.bundled()
        #expect(database.quirks.count >= 40)
        #expect(Set(database.quirks.map(\.id)).count == database.quirks.count)
        #expect(database.quirks.allSatisfy { !$0.references.isEmpty })
    }

    @Test(
        "bad files are reported as file:line: what is wrong",
        arguments: [
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match]\nvendr = 0x8086\n",
                8, "unknown key \"vendr\""
            ),
            ("[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"explode\"\n", 4, "unknown effect \"explode\""),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match]\ndevice = \"0x3411-0x3408\"\n",
                8, "must look like"
            ),
            ("[[quirk]]\nid = \"a\"\ntitle = \"unterminated\n", 3, "unterminated string"),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"warn\"\nreferences = [\"r\"]\n[quirk.match]\nvendor = 1\n",
                4, "needs \"advice\""
            ),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"x\"\n[quirk.match]\nvendor = 1\n",
                1, "no references"
            ),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"isolation\"\nisolation = { provides = [\"XX\"] }\n",
                5, "unknown ACS flag"
            ),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"slot-limit\"\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match.guest]\nmachine = [\"pc\"]\n",
                4, "needs \"free-slots\""
            ),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"slot-limit\"\nfree-slots = 33\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match.guest]\nmachine = [\"pc\"]\n",
                5, "free-slots must be"
            ),
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"advice\"\nfree-slots = 28\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match.guest]\nmachine = [\"pc\"]\n",
                5, "only goes with effect = \"slot-limit\""
            ),
            ("[quirk]\nid = 1\n", 1, "array of tables"),
            // Full-width digits are hex digits to Character.isHexDigit; a class code never is.
            (
                "[[quirk]]\nid = \"a\"\ntitle = \"t\"\neffect = \"warn\"\nadvice = \"x\"\nreferences = [\"r\"]\n[quirk.match]\nclass = \"\u{FF10}\u{FF16}\"\n",
                8, "must be 2, 4 or 6 hex digits"
            ),
        ])
    func errors(text: String, line: Int, message: String) {
        do {
            _ = try QuirkDatabase.parse([("local.toml", text)])
            Issue.record("accepted a bad file")
        } catch {
            #expect(error.file == "local.toml")
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("local.toml:\(line): "))
        }
    }

    @Test("a local entry with a shipped id replaces it; a new id is added")
    func overrides() throws {
        let bundled = try QuirkDatabase.bundled()
        let local = try QuirkDatabase.parse([
            (
                "site.toml",
                """
                [[quirk]]
                id = "nvidia-consumer-gpu"
                title = "GeForce cards are fine here"
                effect = "advice"
                advice = "We run them."
                references = ["site policy"]
                [quirk.match]
                vendor = 0x10de
                class = "03"

                [[quirk]]
                id = "site-extra"
                title = "Our FPGA"
                effect = "warn"
                advice = "Reset it by power cycle."
                references = ["site ticket 42"]
                [quirk.match]
                vendor = 0x10ee
                device = [0x7021, "0x9000-0x90ff"]
                """
            )
        ])
        let merged = bundled.extended(with: local)
        #expect(merged.quirks.count == bundled.quirks.count + 1)
        #expect(merged.quirk(id: "nvidia-consumer-gpu")?.effect == .advice)
        #expect(merged.quirk(id: "site-extra")?.match.device?.contains(0x90ab) == true)
        #expect(merged.quirk(id: "site-extra")?.match.device?.contains(0x9100) == false)
    }

    @Test("a repeated id across files is an error naming both places")
    func duplicateID() {
        let entry =
            "[[quirk]]\nid = \"dup\"\ntitle = \"t\"\neffect = \"advice\"\nadvice = \"a\"\nreferences = [\"r\"]\n[quirk.match]\nvendor = 1\n"
        #expect(throws: QuirkFileError.self) { try QuirkDatabase.parse([("a.toml", entry), ("b.toml", entry)]) }
    }
}
