import Analysis
import Exposition
import Foundation
import HostAccess
import HostExport
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// Metrics and NFD labels of every real fixture host, checked by the tools their readers use
/// (promtool) and by Kubernetes' own expressions (KubernetesLabelTests).
@Suite("exports of the fixture hosts")
struct FixtureExportTests {
    static let snapshots: [String] = {
        let directory = Fixtures.directory + "/snapshots"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".tar.gz") }.sorted()
    }()

    static func report(_ model: HostModel) throws -> (InspectReport, QuirkEvaluation) {
        let quirks = QuirkEvaluation(database: try QuirkDatabase.bundled(), model: model)
        return (InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons), quirks)
    }

    static func model(_ name: String) throws -> HostModel {
        let opened = try Snapshot.open(Fixtures.directory + "/snapshots/" + name)
        return try withExtendedLifetime(opened) { try SysfsHostReader(roots: opened.roots).read(source: name) }
    }

    /// `promtool check metrics` (Debian's prometheus package) on `text`: its exit status and what it said.
    static func promtool(_ text: String) throws -> (status: Int32, output: String) {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            throw Tool.Failed(description: "promtool is not installed: run `make deps` (Debian's prometheus package)")
        }
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try text.write(toFile: directory + "/metrics.prom", atomically: true, encoding: .utf8)
        let result = try Tool.run(
            "/bin/sh", ["-c", "\(promtool) check metrics < \"$0\" 2>&1", directory + "/metrics.prom"])
        return (result.status, result.standardOutput + result.standardError)
    }

    @Test("every fixture: NFD labels pass Kubernetes' label rules", arguments: snapshots)
    func labelsAreValid(_ name: String) throws {
        let (report, _) = try Self.report(try Self.model(name))
        let labels = NodeFeatures.labels(report: report)
        #expect(labels.count >= 2)
        for label in labels {
            #expect(KubernetesLabelTests.referenceKey(label.key), "\(label.key)")
            #expect(KubernetesLabelTests.referenceValue(label.value), "\(label.key)=\(label.value)")
        }
    }

    @Test(
        "every fixture: promtool check metrics accepts inspect's metrics without a lint problem", arguments: snapshots)
    func metricsPassPromtool(_ name: String) throws {
        let (report, quirks) = try Self.report(try Self.model(name))
        let text = ExpositionText.render(HostMetrics.families(report: report, quirks: quirks, version: "0.1.0"))
        let check = try Self.promtool(text)
        #expect(check.status == 0 && check.output.isEmpty, "\(name): \(check.output)")
    }

    @Test("a hostile driver name (quotes, braces, a line feed) stays one label value that promtool accepts")
    func hostileDriverName() throws {
        let model = try SeedHost.model().replacing("0000:04:00.0") { $0.driver = "e1000e\"} 1\nvfioctl_forged 1" }
        let (report, quirks) = try Self.report(model)
        let text = ExpositionText.render(HostMetrics.families(report: report, quirks: quirks, version: "0.1.0"))
        #expect(!text.contains("\nvfioctl_forged"))
        #expect(text.contains(#"driver="e1000e\"} 1\nvfioctl_forged 1""#))
        let check = try Self.promtool(text)
        #expect(check.status == 0, "\(check.output)")
    }
}
