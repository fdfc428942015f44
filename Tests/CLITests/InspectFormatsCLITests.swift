import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// `vfioctl inspect --format dot|svg|html`: the DOT text Graphviz accepts, one cluster per
/// IOMMU group, an HTML page Chromium renders with every function and its verdict, escaping
/// of hostile host strings, and the usage errors of conflicting format options.
@Suite("inspect --format dot, svg and html")
struct InspectFormatsCLITests {
    static let snapshots: [String] = {
        let directory = Fixtures.directory + "/snapshots"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".tar.gz") }.sorted()
    }()

    /// A program from `make deps`, or a failure that says to run it (never a silent pass).
    static func required(_ program: String) throws -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let path = directory + "/" + program
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Tool.Failed(
            description: "\(program) is not installed: run `make deps` (it installs graphviz and chromium)")
    }

    /// The group ids every `<title>cluster_gA_gB…</title>` of an SVG names, in order.
    static func clusterGroupIDs(_ svg: String) -> [Int] {
        var ids: [Int] = []
        var rest = Substring(svg)
        while let start = rest.range(of: "<title>cluster_") {
            rest = rest[start.upperBound...]
            guard let end = rest.range(of: "</title>") else { break }
            for part in rest[..<end.lowerBound].split(separator: "_") where part.hasPrefix("g") {
                if let id = Int(part.dropFirst()) { ids.append(id) }
            }
        }
        return ids
    }

    @Test("every fixture: dot -Tsvg accepts the DOT text, and every group is exactly one cluster", arguments: snapshots)
    func dotOfFixture(_ name: String) throws {
        let dot = try Self.required("dot")
        let snapshot = Fixtures.directory + "/snapshots/" + name
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--format", "dot"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("digraph vfioctl {"))
        try result.standardOutput.write(toFile: directory + "/host.dot", atomically: true, encoding: .utf8)
        let svg = try Tool.run(dot, ["-Tsvg", directory + "/host.dot"])
        #expect(svg.status == 0, "dot -Tsvg: \(svg.standardError)")
        #expect(!svg.standardError.contains("Warning"), "\(svg.standardError)")

        let json = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--json"])
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let groups = (report["groups"] as? [[String: Any]]) ?? (report["predictedGroups"] as? [[String: Any]]) ?? []
        let expected = groups.compactMap { $0["id"] as? Int }.sorted()
        #expect(!expected.isEmpty)
        #expect(Self.clusterGroupIDs(svg.standardOutput).sorted() == expected)
        // --format svg runs the same dot and gives the same clusters.
        let direct = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--format", "svg"])
        #expect(direct.status == 0, "\(direct.standardError)")
        #expect(Self.clusterGroupIDs(direct.standardOutput).sorted() == expected)
    }

    @Test("the SR-IOV fixture folds its VFs into one node with a count, not a node per VF")
    func vfsFolded() throws {
        let result = try Tool.vfioctl([
            "inspect", "--snapshot", Fixtures.directory + "/snapshots/lab-igb-sriov-6.12.tar.gz", "--format", "dot",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Tool.vfioctl([
            "inspect", "--snapshot", Fixtures.directory + "/snapshots/lab-igb-sriov-6.12.tar.gz", "--json",
        ])
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let devices = try #require(report["devices"] as? [[String: Any]])
        // VFs: functions with a PF's VF device id (SR-IOV capability) and no SR-IOV of their own.
        let vfIDs = Set(
            devices.compactMap { $0["sriov"] as? [String: Any] }.filter { ($0["numVFs"] as? Int ?? 0) > 0 }
                .compactMap { $0["vfDeviceId"] as? String })
        let vfs = devices.filter { vfIDs.contains($0["deviceId"] as? String ?? "") && $0["sriov"] is NSNull }
        try #require(vfs.count >= 2, "the fixture has VFs")
        for vf in vfs {
            let address = try #require(vf["address"] as? String)
            #expect(!result.standardOutput.contains("\"d\(address)\""), "VF \(address) has a node of its own")
        }
        // The folded nodes' counts add up to every VF.
        var counted = 0
        for line in result.standardOutput.split(separator: "\n") {
            guard let label = line.range(of: "[label=\""), let of = line.range(of: " VF") else { continue }
            if line.contains("\"vfs"), let count = Int(line[label.upperBound..<of.lowerBound]) { counted += count }
        }
        #expect(counted == vfs.count)
    }

    @Test("a bridge that fails the ACS test labels the edges below it with why")
    func acsEdgeLabel() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "dot"])
        #expect(result.status == 0, "\(result.standardError)")
        let labelled = result.standardOutput.split(separator: "\n").filter {
            $0.contains(" -> ") && ($0.contains("no ACS") || $0.contains("lacks"))
        }
        #expect(!labelled.isEmpty, "\(result.standardOutput)")
    }

    @Test("host strings with quotes, backslashes, <script> and control characters come out escaped")
    func hostileStrings() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let hostile = "ev\"il\\<script>x\u{7}"
        let tree = try OwnershipTree(.init(driver: hostile), .init(driver: "pcieport"), in: parent)
        let dot = try Tool.vfioctl(["inspect", "--root", tree.directory, "--format", "dot"])
        #expect(dot.status == 0, "\(dot.standardError)")
        #expect(dot.standardOutput.contains("ev\\\"il\\\\<script>x?"), "\(dot.standardOutput)")
        #expect(!dot.standardOutput.unicodeScalars.contains("\u{7}"))
        let graphviz = try Self.required("dot")
        try dot.standardOutput.write(toFile: parent + "/host.dot", atomically: true, encoding: .utf8)
        #expect(try Tool.run(graphviz, ["-Tsvg", parent + "/host.dot"]).status == 0)

        let html = try Tool.vfioctl(["inspect", "--root", tree.directory, "--format", "html"])
        #expect(html.status == 0, "\(html.standardError)")
        #expect(html.standardOutput.contains("ev&quot;il\\&lt;script&gt;x?"))
        #expect(!html.standardOutput.contains("<script"))
        #expect(!html.standardOutput.unicodeScalars.contains("\u{7}"))
    }

    @Test("kernel groups that differ from the prediction: kernel clusters, and a note with both memberships")
    func disagreement() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        // A multifunction endpoint without ACS: predicted as one group, split by the kernel here.
        let port = Hosts.rootPort(secondary: 1, acs: .requiredForIsolation)
        let endpoint = Hosts.endpoint(multifunction: true)
        var devices = [
            Hosts.device("0000:00:01.0", port, driver: "pcieport", group: 1),
            Hosts.device("0000:01:00.0", endpoint, driver: "igb", group: 2),
            Hosts.device("0000:01:00.1", endpoint, driver: "igb", group: 3),
        ]
        HostModel.assignParentsFromBusRanges(&devices)
        let model = HostModel(
            source: "split tree", devices: devices,
            kernelGroups: [1: [devices[0].address], 2: [devices[1].address], 3: [devices[2].address]],
            facts: HostFacts(vfioPCIAvailability: .loaded),
            configBytes: [
                devices[0].address: port.bytes, devices[1].address: endpoint.bytes, devices[2].address: endpoint.bytes,
            ])
        try SysfsTreeWriter(base: FilePath(parent + "/host")).write(model)
        let dot = try Tool.vfioctl(["inspect", "--root", parent + "/host", "--format", "dot"])
        #expect(dot.status == 0, "\(dot.standardError)")
        for cluster in ["cluster_g1 {", "cluster_g2 {", "cluster_g3 {"] {
            #expect(dot.standardOutput.contains(cluster), "\(cluster)")
        }
        #expect(dot.standardOutput.contains("kernel and predicted groups disagree"))
        #expect(dot.standardOutput.contains("predicted {0000:01:00.0, 0000:01:00.1}"))
        #expect(dot.standardOutput.contains("multifunction: no ACS capability"))
        let html = try Tool.vfioctl(["inspect", "--root", parent + "/host", "--format", "html"])
        #expect(html.standardOutput.contains("<h2>Kernel and predicted groups disagree</h2>"))
    }

    @Test(
        "512 functions: plainly assignable and bridge-only groups are collapsed, the rest open, every function listed")
    func largeHostHTML() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Tool.hostgen(["synthetic", "--functions", "512", "-o", directory + "/host"]).status == 0)
        let html = try Tool.vfioctl(["inspect", "--root", directory + "/host", "--format", "html"])
        #expect(html.status == 0, "\(html.standardError)")
        let out = html.standardOutput
        #expect(out.contains("<details class=\"group v-assignable\"><summary>"))
        #expect(!out.contains("<details class=\"group v-assignable\" open>"))
        #expect(!out.contains("<details class=\"group v-host\" open>"))
        #expect(out.contains("<details class=\"group v-caveats\" open>") || out.contains("v-blocked\" open>"))
        let json = try Tool.vfioctl(["inspect", "--root", directory + "/host", "--json"])
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let devices = try #require(report["devices"] as? [[String: Any]])
        #expect(devices.count == 512)
        for device in devices {
            let address = try #require(device["address"] as? String)
            #expect(out.contains("<tr id=\"f-\(address)\""), "\(address)")
        }
    }

    @Test("--json/--tree/--format that disagree, and addresses with a picture, are usage errors (64)")
    func conflicts() throws {
        for arguments in [
            ["--json", "--tree"], ["--json", "--format", "dot"], ["--tree", "--format", "html"],
            ["--format", "svg", "0000:00:00.0"], ["--format", "dot", "--assume-quirk", "x"],
        ] {
            let result = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot] + arguments)
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
        }
        let same = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot, "--json", "--format", "json"])
        #expect(same.status == 0, "\(same.standardError)")
    }

    @Test("without dot on PATH: svg fails naming the package, html says the picture needs graphviz")
    func graphvizMissing() throws {
        // A PATH with what reading a snapshot needs (gzip, tar) and no dot.
        let empty = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        for program in ["gzip", "tar"] {
            try FileManager.default.createSymbolicLink(
                atPath: empty + "/" + program, withDestinationPath: try Self.required(program))
        }
        let svg = try Tool.vfioctl(
            ["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "svg"], environment: ["PATH": empty])
        #expect(svg.status == 1)
        #expect(svg.standardError.contains("install graphviz (apt-get install graphviz)"), "\(svg.standardError)")
        #expect(svg.standardOutput.isEmpty)
        let html = try Tool.vfioctl(
            ["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "html"], environment: ["PATH": empty])
        #expect(html.status == 0, "\(html.standardError)")
        #expect(html.standardOutput.contains("The picture needs Graphviz"))
        #expect(!html.standardOutput.contains("<svg"))
    }

    // Serialized: two browsers at once on a loaded 2-core CI machine is what made one
    // of them fail there.
    @Test(
        "headless Chromium renders the HTML report: a picture, every function with its verdict",
        .serialized, arguments: ["seed-host.tar.gz", "tree-asus-p6t6.tar.gz"])
    func chromium(_ name: String) throws {
        let chromium = try Self.required("chromium")
        _ = try Self.required("dot")
        let snapshot = Fixtures.directory + "/snapshots/" + name
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let html = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--format", "html"])
        #expect(html.status == 0, "\(html.standardError)")
        #expect(html.standardOutput.contains("<svg"))
        // Self-contained: no script, no stylesheet or image to fetch.
        for fetch in ["<script", "<link", " src=", "@import", "url("] {
            #expect(!html.standardOutput.contains(fetch), "\(fetch)")
        }
        try html.standardOutput.write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
        try "<!DOCTYPE html><html><body></body></html>".write(
            toFile: directory + "/empty.html", atomically: true, encoding: .utf8)
        // `--disable-dev-shm-usage`: a container's small /dev/shm crashes the renderer.
        // TMPDIR=/tmp: Chromium puts its singleton socket there, and a long TMPDIR is more
        // than sun_path holds (it then stops with "Socket path too long").
        func browse(_ arguments: [String]) throws -> Tool.Result {
            try Tool.run(
                chromium,
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--user-data-dir=\(directory)/profile",
                ] + arguments,
                environment: ["HOME": directory, "TMPDIR": "/tmp"])
        }
        for page in ["report", "empty"] {
            let shot = try browse([
                "--screenshot=\(directory)/\(page).png", "--window-size=1400,2000", "file://\(directory)/\(page).html",
            ])
            #expect(shot.status == 0, "\(shot.standardError)")
        }
        let report = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.png"))
        let empty = try Data(contentsOf: URL(fileURLWithPath: directory + "/empty.png"))
        #expect(report.starts(with: [0x89, 0x50, 0x4e, 0x47]))
        #expect(report.count > 5 * empty.count, "report \(report.count) bytes, blank page \(empty.count)")

        let dom = try browse(["--dump-dom", "file://\(directory)/report.html"])
        #expect(dom.status == 0, "\(dom.standardError)")
        let json = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--json"])
        let parsed = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let devices = try #require(parsed["devices"] as? [[String: Any]])
        #expect(!devices.isEmpty)
        for device in devices {
            let address = try #require(device["address"] as? String)
            let verdict = try #require(device["verdict"] as? String)
            guard let row = dom.standardOutput.range(of: "<tr id=\"f-\(address)\"") else {
                Issue.record("no row for \(address) in the DOM")
                continue
            }
            let text = dom.standardOutput[row.lowerBound...]
            let end = text.range(of: "</tr>").map { text[..<$0.lowerBound] } ?? text
            #expect(end.contains("<td class=\"verdict\">\(verdict)</td>"), "\(address): \(end)")
        }
    }
}
