import Analysis
import ConfigFile
import HostAccess
import PCIModel
import QuirkDB

/// vfioctl's TOML reader (`TOMLParser`) and the quirk decoder on top of it
/// (`QuirkDatabase.parse`), as `/etc/vfioctl/quirks.d/*.toml` reach them; a database that
/// decodes is matched against every function of a real host, as `inspect` and the hook do.
enum TOMLFuzz {
    /// The X58 host of the real tree-asus-p6t6 dump (Tests/Fixtures/pciutils).
    static let model: HostModel? = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        let path = parts.joined(separator: "/") + "/Fixtures/pciutils/tree-asus-p6t6"
        return try? LspciDumpReader(path: path, lookUpNames: false).read()
    }()

    static let guest = GuestContext(
        os: "microsoft.com/win/10", arch: "x86_64", machine: "pc-q35-8.2",
        hostdevDriver: "vfio", functionsOfSameDevice: 2)

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            _ = try TOMLParser.parse(text)
        } catch {
            // Not TOML: the quirk decoder would stop at the same error (it parses first).
            fuzzCheck(error.line >= 1, "TOML error on line \(error.line)")
            return
        }
        let database: QuirkDatabase
        do {
            database = try QuirkDatabase.parse([(name: "fuzz.toml", text: text)])
        } catch {
            fuzzCheck(error.file == "fuzz.toml" && error.line >= 0, "quirk error at \(error)")
            return
        }
        fuzzCheck(Set(database.quirks.map(\.id)).count == database.quirks.count, "repeated quirk id accepted")
        guard let model else {
            fuzzCheck(false, "the tree-asus-p6t6 fixture could not be read")
            return
        }
        let policy = ACSPolicy(quirk: database.acsQuirk(for: model))
        for device in model.devices {
            for match in database.matches(for: device, in: model, policy: policy, guest: guest) {
                fuzzCheck(database.quirk(id: match.quirk.id) != nil, "match of unknown quirk \(match.quirk.id)")
            }
            _ = policy.evaluate(device)
        }
        _ = database.guestQuirks(for: guest, in: model)
    }
}
