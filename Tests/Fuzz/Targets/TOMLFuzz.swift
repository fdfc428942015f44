import QuirkDB

/// vfioctl's TOML reader (`TOMLParser`) and the quirk decoder on top of it
/// (`QuirkDatabase.parse`), as `/etc/vfioctl/quirks.d/*.toml` reach them.
enum TOMLFuzz {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            _ = try TOMLParser.parse(text)
        } catch {
            fuzzCheck(error.line >= 1, "TOML error on line \(error.line)")
        }
        do {
            let database = try QuirkDatabase.parse([(name: "fuzz.toml", text: text)])
            fuzzCheck(Set(database.quirks.map(\.id)).count == database.quirks.count, "repeated quirk id accepted")
        } catch {
            fuzzCheck(error.file == "fuzz.toml" && error.line >= 0, "quirk error at \(error)")
        }
    }
}
