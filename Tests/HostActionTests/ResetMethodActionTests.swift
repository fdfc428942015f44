import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// `ResetMethodChanger` in a session on BusResetHost's tree, the kernel modelled by
/// KernelModel (`default` re-probes; an unsupported method fails with EINVAL).
@Suite("reset_method changes in a host session")
struct ResetMethodActionTests {
    let sibling = BusResetHost.sibling

    func makeHost() throws -> (String, HostRoots, KernelModel, ActionState) {
        let directory = try Tool.temporaryDirectory()
        try BusResetHost.writeTree(at: directory + "/host")
        return (
            directory, HostRoots(path: directory + "/host"), try KernelModel(root: directory + "/host"),
            ActionState(directory: directory + "/state")
        )
    }

    func file(_ directory: String) -> String { directory + "/host/sys/bus/pci/devices/\(sibling)/reset_method" }

    func set(_ words: [String], roots: HostRoots, kernel: KernelModel, state: ActionState) throws
        -> ResetMethodChanger.Change
    {
        let session = try HostSession(roots: roots, state: state, action: "test", dryRun: false)
        session.kernel = kernel
        let setting = try ResetMethodSetting(address: sibling, words: words)
        return try session.run { session in try ResetMethodChanger(session: session).apply(setting) }
    }

    @Test("restrict, then default: the kernel's own list again; device_specific once a module adds it")
    func restrictAndDefault() throws {
        let (directory, roots, kernel, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let change = try set(["pm"], roots: roots, kernel: kernel, state: state)
        #expect(change.before == [.flr, .pm] && change.after == [.pm])
        #expect(try String(contentsOfFile: file(directory), encoding: .utf8) == "pm\n")
        // flr is no longer listed, but the kernel probes each named method on write: it works.
        #expect(try set(["flr", "pm"], roots: roots, kernel: kernel, state: state).after == [.flr, .pm])
        #expect(try set(["pm"], roots: roots, kernel: kernel, state: state).after == [.pm])
        #expect(try set(["default"], roots: roots, kernel: kernel, state: state).after == [.flr, .pm])
        kernel.addedResetMethods[sibling.description] = ["device_specific"]
        #expect(
            try set(["device_specific", "flr"], roots: roots, kernel: kernel, state: state).after == [
                .deviceSpecific, .flr,
            ])
    }

    @Test("EINVAL from the kernel: reported as such, the list as it was, no journal left")
    func kernelRefuses() throws {
        let (directory, roots, kernel, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            _ = try set(["device_specific"], roots: roots, kernel: kernel, state: state)
        } throws: { error in
            let text = "\(error)"
            return text.contains("(EINVAL)") && text.contains("vendor-reset")
        }
        #expect(try String(contentsOfFile: file(directory), encoding: .utf8) == "flr pm\n")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: state.journalDirectoryPath))?.isEmpty != false)
    }

    /// Found in the lab (reset-method@6.12): function 0 of a multifunction device keeps the
    /// `bus` it was given while alone on its bus, but `bus` no longer probes, so writing the old
    /// list back failed too and left a journal `recover` could never finish.
    @Test("a stale listing: the kernel refuses its own old list; the undo writes nothing and no journal is left")
    func staleListing() throws {
        let (directory, roots, kernel, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "flr bus\n".write(toFile: file(directory), atomically: true, encoding: .utf8)
        let probed = (file(directory) as NSString).deletingLastPathComponent + "/" + KernelModel.probedFile
        try "flr\n".write(toFile: probed, atomically: true, encoding: .utf8)
        let stale = try KernelModel(root: directory + "/host")
        #expect {
            _ = try set(["bus"], roots: roots, kernel: stale, state: state)
        } throws: { error in
            let text = "\(error)"
            return text.contains("(EINVAL)") && !text.contains("undoing it failed")
        }
        #expect(try String(contentsOfFile: file(directory), encoding: .utf8) == "flr bus\n")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: state.journalDirectoryPath))?.isEmpty != false)
        _ = kernel
    }

    @Test("the journal record keeps the list before, empty included, and parses back")
    func journalRecord() throws {
        let records: [JournalRecord] = [
            .resetMethod(sibling, previous: [.flr, .pm, .bus]), .resetMethod(sibling, previous: []),
        ]
        #expect(records.map(\.line) == ["reset-method 0000:01:00.1 flr%20pm%20bus", "reset-method 0000:01:00.1 %"])
        for record in records {
            #expect(try JournalRecord.parse(Substring(record.line)).get() == record)
        }
        #expect((try? JournalRecord.parse("reset-method 0000:01:00.1 warm").get()) == nil)
        #expect((try? JournalRecord.parse("reset-method nowhere flr").get()) == nil)
    }
}
