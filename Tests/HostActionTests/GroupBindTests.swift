import Actions
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

/// Binding on a generated tree with the kernel's bind behaviour modelled by KernelModel
/// (TestSupport; the behaviours it models are listed there). The real kernel does the same
/// in the lab (Tests/VMLab/scenarios/bind-*).
@Suite("Group binding, restore, rollback and recovery")
struct GroupBindTests {
    typealias Host = SyntheticActionHost

    /// A 64-function generated host; group of 0000:06:00.0 is the two-function e1000e.
    func makeHost() throws -> Host { try SyntheticActionHost.make() }

    func nicGroup(_ host: Host) throws -> (Int, HostModel) {
        let model = try host.model()
        let group = try #require(model[PCIAddress("06:00.0")!]?.iommuGroup)
        #expect(model.kernelGroups?[group]?.map(\.description).sorted() == ["0000:06:00.0", "0000:06:00.1"])
        return (group, model)
    }

    @Test("bind moves every endpoint to vfio-pci, records the old drivers; restore gives them back")
    func bindAndRestore() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let (group, model) = try nicGroup(host)
        let session = try host.session()
        var binder = GroupBinder(session: session)
        binder.waitSeconds = 1
        let plan = try binder.plan(group: group, target: "vfio-pci", model: model, force: false)
        #expect(plan.changes.map(\.driver) == ["e1000e", "e1000e"])
        let outcome = try session.run { _ in try binder.bind(plan) }
        #expect(host.driver("0000:06:00.0") == "vfio-pci" && host.driver("0000:06:00.1") == "vfio-pci")
        #expect(outcome.vfioDevice == host.directory + "/host/dev/vfio/\(group)")
        #expect(host.journals.isEmpty)
        let restoring = try host.session()
        let writes = try restoring.run { session in
            try GroupBinder(session: session).restore(group: group, model: try host.model())
        }
        #expect(host.driver("0000:06:00.0") == "e1000e" && host.driver("0000:06:00.1") == "e1000e")
        #expect(host.kernel.override(of: "0000:06:00.0") == nil)
        #expect(writes.contains { $0.path.hasSuffix("/drivers/e1000e/bind") })
        #expect(!FileManager.default.fileExists(atPath: host.directory + "/host/dev/vfio/\(group)"))
    }

    @Test("a dry run prints override, unbind, probe per function, and changes nothing")
    func dryRun() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let (group, model) = try nicGroup(host)
        let binder = GroupBinder(session: try host.session(dryRun: true))
        let outcome = try binder.bind(try binder.plan(group: group, target: "vfio-pci", model: model, force: false))
        let tails = outcome.writes.map {
            "\($0.path.split(separator: "/").suffix(2).joined(separator: "/")) ← \($0.value)"
        }
        #expect(
            tails == [
                "0000:06:00.0/driver_override ← vfio-pci", "driver/unbind ← 0000:06:00.0",
                "pci/drivers_probe ← 0000:06:00.0",
                "0000:06:00.1/driver_override ← vfio-pci", "driver/unbind ← 0000:06:00.1",
                "pci/drivers_probe ← 0000:06:00.1",
            ])
        #expect(host.driver("0000:06:00.0") == "e1000e")
        #expect(!FileManager.default.fileExists(atPath: host.directory + "/state"))
    }

    @Test("a failure on the second function rolls the first back, leaving no journal")
    func rollback() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let (group, model) = try nicGroup(host)
        host.kernel.failWrite = { path, value in path.hasSuffix("drivers_probe") && value == "0000:06:00.1" }
        let session = try host.session()
        let binder = GroupBinder(session: session)
        let plan = try binder.plan(group: group, target: "vfio-pci", model: model, force: false)
        #expect {
            _ = try session.run { _ in try binder.bind(plan) }
        } throws: { error in
            (error as? ActionError)?.code == .failedAndRolledBack && "\(error)".contains("every change was undone")
        }
        host.kernel.failWrite = { _, _ in false }
        #expect(host.driver("0000:06:00.0") == "e1000e")
        #expect(host.kernel.override(of: "0000:06:00.0") == nil)
        #expect(host.journals.isEmpty)
    }

    @Test("when rollback fails too, the journal stays and recover finishes the job")
    func recover() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let (group, model) = try nicGroup(host)
        // Probing the second function fails, and so does binding e1000e back (rollback).
        host.kernel.failWrite = { path, value in
            (path.hasSuffix("drivers_probe") && value == "0000:06:00.1") || path.hasSuffix("/drivers/e1000e/bind")
        }
        let session = try host.session("bind group \(group) vfio-pci")
        let binder = GroupBinder(session: session)
        #expect {
            _ = try session.run { _ in
                try binder.bind(try binder.plan(group: group, target: "vfio-pci", model: model, force: false))
            }
        } throws: { error in
            (error as? ActionError)?.code == .failedRollbackIncomplete && "\(error)".contains("vfioctl recover")
        }
        #expect(host.journals.count == 1)
        // Every other action refuses while the journal waits.
        #expect {
            _ = try host.session()
        } throws: { error in
            (error as? ActionError)?.code == .unfinishedJournal && "\(error)".contains("vfioctl recover")
        }
        host.kernel.failWrite = { _, _ in false }
        let recovery = try Recovery(roots: host.roots, state: host.state, dryRun: false)
        recovery.session.kernel = host.kernel
        let replayed = try recovery.run()
        #expect(replayed.map(\.action) == ["bind group \(group) vfio-pci"])
        #expect(replayed.first?.records.count == 2)
        #expect(host.driver("0000:06:00.0") == "e1000e" && host.driver("0000:06:00.1") == "e1000e")
        #expect(host.journals.isEmpty)
    }

    @Test("a group the host runs on is refused unless forced")
    func hostDependency() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let (group, model) = try nicGroup(host)
        let dependent = model.withFacts {
            $0.hostDependencies = [
                HostDependency(
                    address: PCIAddress("06:00.1")!, kind: .defaultRoute,
                    detail: "the default route leaves through eth0")
            ]
        }
        let binder = GroupBinder(session: try host.session(dryRun: true))
        #expect {
            _ = try binder.plan(group: group, target: "vfio-pci", model: dependent, force: false)
        } throws: { error in
            (error as? ActionError)?.code == .hostDependency && "\(error)".contains("eth0")
        }
        #expect(try binder.plan(group: group, target: "vfio-pci", model: dependent, force: true).changes.count == 2)
    }

    @Test("a second action while one holds the lock is refused")
    func lock() throws {
        let host = try makeHost()
        defer { try? FileManager.default.removeItem(atPath: host.directory) }
        let held = try HostLock(stateDirectory: host.state.directory)
        #expect(throws: ActionError.self) { _ = try HostLock(stateDirectory: host.state.directory) }
        withExtendedLifetime(held) {}
    }
}
