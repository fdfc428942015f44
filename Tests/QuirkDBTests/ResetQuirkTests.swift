import Analysis
import ConfigFile
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// AMD GPUs with the reset bug (Quirks/amd-gpu-reset.toml, ids from gnif/vendor-reset's
/// src/device-db.h) and the `reset-method` effect.
@Suite("Reset-bug quirks and the reset-method effect")
struct ResetQuirkTests {
    static func gpu(_ deviceID: UInt16, classCode: UInt32 = 0x030000, methods: [ResetMethod]? = [.flr, .bus])
        -> HostModel
    {
        var builder = ConfigSpaceBuilder(vendorID: 0x1002, deviceID: deviceID, classCode: classCode)
        builder.addExpress(type: .legacyEndpoint, flr: true)
        var device = Hosts.device("0b:00.0", builder)
        device.resetMethods = methods
        return Hosts.model([device])
    }

    @Test(
        "each vendor-reset family matches by id, names its source, and asks for device_specific",
        arguments: [
            (UInt16(0x67df), "amd-polaris10-reset-bug"), (0x67ef, "amd-polaris11-reset-bug"),
            (0x699f, "amd-polaris12-reset-bug"), (0x687f, "amd-vega10-reset-bug"), (0x66af, "amd-vega20-reset-bug"),
            (0x731f, "amd-navi10-reset-bug"), (0x7340, "amd-navi14-reset-bug"), (0x7362, "amd-navi12-reset-bug"),
            (0x738c, "amd-arcturus-reset-bug"),
        ])
    func families(deviceID: UInt16, id: String) throws {
        let database = try QuirkDatabase.bundled()
        #expect(database.ids(at: "0b:00.0", in: Self.gpu(deviceID)) == [id])
        let quirk = try #require(database.quirk(id: id))
        #expect(quirk.effect == .resetMethod(.deviceSpecific) && quirk.effect.name == "reset-method")
        #expect(quirk.references.contains { $0.hasPrefix("gnif/vendor-reset src/device-db.h") })
        #expect(quirk.advice?.contains("reset-method ADDRESS device_specific") == true)
        #expect(quirk.advice?.contains("vendor-reset") == true)
    }

    @Test("near misses: Navi 21 (not in vendor-reset's table), the GPU's HDMI audio, another vendor's id")
    func nearMisses() throws {
        let database = try QuirkDatabase.bundled()
        #expect(database.ids(at: "0b:00.0", in: Self.gpu(0x73bf)).isEmpty)
        #expect(database.ids(at: "0b:00.0", in: Self.gpu(0x731f, classCode: 0x040300)).isEmpty)
        var nvidia = ConfigSpaceBuilder(vendorID: 0x10de, deviceID: 0x731f, classCode: 0x030000)
        nvidia.addExpress(type: .legacyEndpoint)
        #expect(
            !database.ids(at: "0b:00.0", in: Hosts.model([Hosts.device("0b:00.0", nvidia)])).contains {
                $0.hasSuffix("-reset-bug")
            })
    }

    @Test("a caveat until reset_method tries device_specific first")
    func caveatUntilSet() throws {
        let database = try QuirkDatabase.bundled()
        func reasons(_ model: HostModel) -> [Reason] {
            QuirkEvaluation(database: database, model: model).reasons(for: model.devices[0])
        }
        let unset = reasons(Self.gpu(0x731f))
        #expect(unset.count == 1 && unset.first?.severity == .caveats)
        #expect(unset.first?.message.contains("reset_method: flr bus") == true)
        #expect(reasons(Self.gpu(0x731f, methods: [.deviceSpecific, .flr])).isEmpty)
        #expect(reasons(Self.gpu(0x731f, methods: [.flr, .deviceSpecific])).count == 1)
        #expect(reasons(Self.gpu(0x731f, methods: nil)).first?.message.contains("reset_method: absent") == true)
    }

    @Test(
        "reset-method entries need a known method, and method goes with no other effect",
        arguments: [
            ("effect = \"reset-method\"\n", 4, "needs \"method\""),
            ("effect = \"reset-method\"\nmethod = \"warm\"\n", 5, "unknown reset method \"warm\""),
            ("effect = \"warn\"\nmethod = \"flr\"\n", 5, "only goes with effect = \"reset-method\""),
        ])
    func decoding(effect: String, line: Int, message: String) {
        let text =
            "[[quirk]]\nid = \"a\"\ntitle = \"t\"\n\(effect)advice = \"x\"\nreferences = [\"r\"]\n[quirk.match]\nvendor = 1\n"
        do {
            _ = try QuirkDatabase.parse([("local.toml", text)])
            Issue.record("accepted a bad file")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }
}
