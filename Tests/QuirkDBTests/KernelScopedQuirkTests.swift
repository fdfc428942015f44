import Analysis
import ConfigFile
import Foundation
import HostAccess
import PCIModel
import QuirkDB
import SystemPackage
import TestSupport
import Testing

/// `kernel = …` under `[quirk.match.host]`: quirks that model one range of kernel releases.
@Suite("Kernel-scoped quirks")
struct KernelScopedQuirkTests {
    /// An isolation quirk for the test root ports (1234:5678), only on 5.10 and later.
    static let scopedIsolation = TestQuirks.isolation(
        id: "test-root-ports-isolated", title: "test root ports isolate from 5.10", vendor: 0x1234, device: 0x5678,
        kernel: ">= 5.10")

    /// Two root ports without ACS in one multifunction slot (00:1c.0, 00:1c.1), a NIC below each:
    /// without isolation all four share a group; isolated, each NIC has a group of its own.
    static func model(release: String?) -> HostModel {
        let port = Hosts.unknownMultifunctionRootPort(secondary:)
        let devices = [
            Hosts.device("00:1c.0", port(1), driver: "pcieport", group: 1),
            Hosts.device("00:1c.1", port(2), driver: "pcieport", group: 1),
            Hosts.device("01:00.0", Hosts.endpoint(), driver: "e1000e", group: 1),
            Hosts.device("02:00.0", Hosts.endpoint(), driver: "e1000e", group: 1),
        ]
        var facts = HostFacts()
        facts.kernelRelease = release
        var model = Hosts.model(devices, kernelGroups: [1: devices.map(\.address)], facts: facts)
        let bytes = [port(1).bytes, port(2).bytes, Hosts.endpoint().bytes, Hosts.endpoint().bytes]
        for (device, raw) in zip(devices, bytes) { model.configBytes[device.address] = raw }
        return model
    }

    private func predicted(_ database: QuirkDatabase, _ model: HostModel, kernel: KernelVersion? = nil) -> [String] {
        let evaluation = QuirkEvaluation(database: database, model: model, kernel: kernel)
        return GroupPrediction(model: model, policy: evaluation.policy).members(of: "0000:01:00.0")
    }

    @Test("a quirk for >= 5.10 applies on a 6.1.0-57-amd64 tree and not on 5.4.0-1, read back from sysfs")
    func appliesByOsrelease() throws {
        let database = try QuirkDatabase.parse([("test.toml", Self.scopedIsolation)])
        var found: [String: [String]] = [:]
        for release in ["6.1.0-57-amd64", "5.4.0-1"] {
            let directory = try Tool.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try SysfsTreeWriter(base: FilePath(directory)).write(Self.model(release: nil))
            try FileManager.default.createDirectory(
                atPath: directory + "/proc/sys/kernel", withIntermediateDirectories: true)
            try (release + "\n").write(
                toFile: directory + "/proc/sys/kernel/osrelease", atomically: true, encoding: .utf8)
            let model = try SysfsHostReader(roots: HostRoots(path: directory)).read(source: release)
            #expect(model.facts.kernelRelease == release)
            found[release] = predicted(database, model)
            #expect(QuirkEvaluation(database: database, model: model).kernel.source == .osrelease)
        }
        #expect(found["6.1.0-57-amd64"] == ["0000:01:00.0"])
        #expect(found["5.4.0-1"] == ["0000:00:1c.0", "0000:00:1c.1", "0000:01:00.0", "0000:02:00.0"])
    }

    @Test("an explicit kernel replaces the model's: 5.4 on a 6.1 host drops the quirk, 6.1 on a 5.4 host applies it")
    func kernelOverride() throws {
        let database = try QuirkDatabase.parse([("test.toml", Self.scopedIsolation)])
        let new = Self.model(release: "6.1.0-57-amd64")
        let old = Self.model(release: "5.4.0-1")
        #expect(predicted(database, new, kernel: KernelVersion(5, 4)).count == 4)
        #expect(predicted(database, old, kernel: KernelVersion(6, 1)).count == 1)
        let evaluation = QuirkEvaluation(database: database, model: new, kernel: KernelVersion(5, 4))
        #expect(evaluation.kernel == PredictionKernel(version: KernelVersion(5, 4), source: .option))
    }

    @Test("an unknown kernel applies the quirk (the database models today's kernel) and says so")
    func unknownKernel() throws {
        let database = try QuirkDatabase.parse([("test.toml", Self.scopedIsolation)])
        let model = Self.model(release: nil)
        #expect(predicted(database, model).count == 1)
        let evaluation = QuirkEvaluation(database: database, model: model)
        #expect(evaluation.kernel == PredictionKernel(version: nil, source: .unknown))
        #expect(evaluation.kernel.summary.contains("unknown"))
    }

    @Test("comparisons: each operator, and a conjunction")
    func comparisons() throws {
        let range = try KernelConstraint(parsing: ">= 5.4, < 5.10")
        #expect(range.isSatisfied(by: KernelVersion(5, 4)))
        #expect(range.isSatisfied(by: KernelVersion(5, 9, 16)))
        #expect(!range.isSatisfied(by: KernelVersion(5, 10)))
        #expect(!range.isSatisfied(by: KernelVersion(5, 3, 99)))
        #expect(try KernelConstraint(parsing: "== 6.1").isSatisfied(by: KernelVersion(6, 1)))
        // M.N names the series: Debian's 6.1.0-57 reads as 6.1.0, a stable 6.1.57 as 6.1.57.
        #expect(try KernelConstraint(parsing: "<= 6.1").isSatisfied(by: KernelVersion(6, 1, 57)))
        #expect(try KernelConstraint(parsing: "== 6.1").isSatisfied(by: KernelVersion(6, 1, 57)))
        #expect(try !KernelConstraint(parsing: "> 6.1").isSatisfied(by: KernelVersion(6, 1, 57)))
        #expect(try KernelConstraint(parsing: "> 6.1").isSatisfied(by: KernelVersion(6, 2)))
        #expect(try !KernelConstraint(parsing: "== 6.1.0").isSatisfied(by: KernelVersion(6, 1, 57)))
        #expect(try KernelConstraint(parsing: "< 6.1.58, >= 5.10").description == "< 6.1.58, >= 5.10")
        #expect(try !KernelConstraint(parsing: "== 6.1.0").isSatisfied(by: KernelVersion(6, 1, 1)))
        #expect(try KernelConstraint(parsing: "> 6.1.0").isSatisfied(by: KernelVersion(6, 1, 1)))
        #expect(try KernelConstraint(parsing: "<= 6.1.5").isSatisfied(by: KernelVersion(6, 1, 5)))
        #expect(try !KernelConstraint(parsing: "<6.1").isSatisfied(by: KernelVersion(6, 1)))
    }

    @Test(
        "malformed kernel constraints are refused with file:line",
        arguments: [
            ">= 5", "~> 5.1", ">= 5.10,", ">= 99999999999999999999.1", "", ">= 5.10 , , < 6.0", "5.10", ">= 5.10.1.2",
            ">= 5.x", ">= -5.1", ">= 5.1000001",
        ])
    func malformed(constraint: String) {
        let text = Self.scopedIsolation.replacingOccurrences(
            of: "kernel = \">= 5.10\"", with: "kernel = \"\(constraint)\"")
        do {
            _ = try QuirkDatabase.parse([("local.toml", text)])
            Issue.record("accepted kernel = \"\(constraint)\"")
        } catch {
            // The constraint is on line 13 of the file.
            #expect(error.description.hasPrefix("local.toml:13: "), "\(error)")
            #expect(error.message.contains("kernel"), "\(error)")
        }
    }

    // MARK: - The shipped entry the 5.9 regression scopes

    /// An X99 (Wellsburg) PCH root port, 8086:8d10, with or without an ACS capability.
    private func wellsburgPort(acs: Bool, release: String?) -> (PCIDevice, HostModel) {
        var port = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x8d10, classCode: 0x060400, headerType: 1)
        port.setBuses(primary: 0, secondary: 1, subordinate: 1)
        port.addExpress(type: .rootPort, slot: true)
        if acs {
            port.addACS(
                capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding],
                control: [])
        }
        let device = Hosts.device("00:1c.0", port, driver: "pcieport", group: 1)
        var facts = HostFacts()
        facts.kernelRelease = release
        return (device, Hosts.model([device], kernelGroups: [1: [device.address]], facts: facts))
    }

    @Test(
        "Intel PCH root ports without ACS: isolated before 5.9 and from 5.10, not on 5.9 (linux-pci 'Kernel 5.9 IOMMU groups regression')",
        arguments: [
            ("5.8.18", false, "kernel-acs-intel-pch-root-ports-before-5-9" as String?),
            ("5.9.1", false, nil),
            ("5.9.1", true, "kernel-acs-intel-pch-root-ports-5-9"),
            ("5.10.0", false, "kernel-acs-intel-pch-root-ports"),
            ("6.1.0-57-amd64", false, "kernel-acs-intel-pch-root-ports"),
        ])
    func wellsburg(release: String, acs: Bool, expected: String?) throws {
        let database = try QuirkDatabase.bundled()
        let (device, model) = wellsburgPort(acs: acs, release: release)
        let answer = database.acsQuirk(for: model)(device, .requiredForIsolation)
        #expect(answer?.id == expected)
        if expected != nil { #expect(answer?.enabled == true) }
    }

    @Test("the shipped PCH entry on an unknown kernel keeps today's id, and --kernel 5.9 drops it")
    func wellsburgUnknownAndOverride() throws {
        let database = try QuirkDatabase.bundled()
        let (device, model) = wellsburgPort(acs: false, release: nil)
        #expect(database.acsQuirk(for: model)(device, .requiredForIsolation)?.id == "kernel-acs-intel-pch-root-ports")
        let scoped = database.scoped(toKernel: KernelVersion(5, 9))
        #expect(scoped.acsQuirk(for: model)(device, .requiredForIsolation) == nil)
    }
}
