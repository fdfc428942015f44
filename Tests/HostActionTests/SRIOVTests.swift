import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// SR-IOV on a generated tree, the kernel modelled by KernelModel (which refuses a change
/// between two non-zero counts, as the kernel's EBUSY does). The real kernel does the same
/// in the lab (Tests/VMLab/scenarios/sriov-set.sh).
@Suite("SR-IOV VF counts")
struct SRIOVTests {
    func makeHost() throws -> (String, HostRoots, KernelModel, ActionState) {
        let directory = try Tool.temporaryDirectory()
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        return (
            directory, HostRoots(path: directory + "/host"), try KernelModel(root: directory + "/host"),
            ActionState(directory: directory + "/state")
        )
    }

    @Test("0 → 2 → 4 → 0, changing 2 → 4 through 0; VFs at the capability's routing IDs")
    func counts() throws {
        let (directory, roots, kernel, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pf = PCIAddress("03:00.0")!
        #expect(try SRIOVManager(roots: roots).status(pf).current == 7)
        func set(_ count: Int) throws -> SRIOVManager.Status {
            let session = try HostSession(roots: roots, state: state, action: "test", dryRun: false)
            session.kernel = kernel
            var manager = SRIOVManager(session: session)
            manager.timeoutSeconds = 2
            return try session.run { _ in
                try manager.set(pf, count: count, autoprobe: false, force: true, inUseByGuests: [])
            }
        }
        #expect(try set(0).vfs.isEmpty)
        #expect(try set(2).vfs.map(\.description) == ["0000:03:00.1", "0000:03:00.2"])
        let four = try set(4)
        #expect(four.current == 4)
        #expect(four.vfs.map(\.description) == ["0000:03:00.1", "0000:03:00.2", "0000:03:00.3", "0000:03:00.4"])
        #expect(try set(0).current == 0)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: state.journalDirectoryPath))?.isEmpty != false)
        // The model refuses 2 → 4 without passing 0, as the kernel does.
        _ = try set(2)
        let direct = HostWriter(dryRun: false)
        direct.afterWrite = kernel.react
        #expect(throws: HostAccessError.self) {
            try direct.write("4", to: "bus/pci/devices/0000:03:00.0/sriov_numvfs", in: roots.sys)
        }
    }

    @Test("a dry run of 7 → 3 writes autoprobe, 0, then 3")
    func dryRun() throws {
        let (directory, roots, _, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let session = try HostSession(roots: roots, state: state, action: "test", dryRun: true)
        let writer = session.writer
        _ = try SRIOVManager(session: session).set(
            PCIAddress("03:00.0")!, count: 3, autoprobe: false, force: true, inUseByGuests: [])
        #expect(
            writer.writes.map { "\($0.path.split(separator: "/").last!) ← \($0.value)" } == [
                "sriov_drivers_autoprobe ← 0", "sriov_numvfs ← 0", "sriov_numvfs ← 3",
            ])
    }

    @Test("VFs on vfio-pci or given to a guest are not removed without --force")
    func inUse() throws {
        let (directory, roots, _, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = SRIOVManager(
            session: try HostSession(roots: roots, state: state, action: "test", dryRun: true))
        #expect {
            _ = try manager.set(
                PCIAddress("03:00.0")!, count: 0, autoprobe: nil, force: false, inUseByGuests: [PCIAddress("03:00.3")!]
            )
        } throws: { error in
            (error as? ActionError)?.code == .inUse && "\(error)".contains("0000:03:00.3 is given to a running guest")
        }
    }

    @Test("more VFs than sriov_totalvfs, a non-PF, and a PF without driver are refused")
    func refusals() throws {
        let (directory, roots, _, state) = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = SRIOVManager(
            session: try HostSession(roots: roots, state: state, action: "test", dryRun: true))
        #expect {
            _ = try manager.set(
                PCIAddress("03:00.0")!, count: 8, autoprobe: nil, force: true, inUseByGuests: [])
        } throws: { "\($0)".contains("at most 7") }
        #expect { _ = try manager.status(PCIAddress("06:00.0")!) } throws: {
            "\($0)".contains("not an SR-IOV physical function")
        }
        try FileManager.default.removeItem(atPath: directory + "/host/sys/bus/pci/devices/0000:03:00.0/driver")
        #expect {
            _ = try manager.set(
                PCIAddress("03:00.0")!, count: 2, autoprobe: nil, force: true, inUseByGuests: [])
        } throws: { "\($0)".contains("has no driver") }
    }

    @Test("igb reload sequences: the seed's order, 8 clamped to 7 with the reason")
    func igbSequences() {
        let workaround = IGBReload(maxVFs: 8, sequence: .idtWorkaround)
        #expect(
            workaround.steps.map(\.description) == [
                "rmmod igb", "modprobe igb max_vfs=1", "rmmod igbvf", "rmmod igb", "modprobe igb max_vfs=7",
            ])
        #expect(workaround.clampNote?.contains("at most 7") == true)
        let plain = IGBReload(maxVFs: 4, sequence: .plain)
        #expect(plain.steps.map(\.description) == ["rmmod igb", "modprobe igb max_vfs=4"])
        #expect(plain.clampNote == nil)
    }
}
