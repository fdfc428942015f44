import Foundation
import SystemPackage
import TestSupport
import Testing

/// `vfioctl inspect --format prom|nfd [--output FILE]`: the metrics and labels agree with
/// `inspect --json` on every fixture host, a real node_exporter serves them, and `--output`
/// replaces a file atomically or refuses and leaves things as they were.
@Suite("inspect --format prom and nfd")
struct ExportFormatsCLITests {
    static let snapshots: [String] = {
        let directory = Fixtures.directory + "/snapshots"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".tar.gz") }.sorted()
    }()

    static func inspectJSON(_ snapshot: String) throws -> [String: Any] {
        let json = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--json"])
        #expect(json.status == 0, "\(json.standardError)")
        return try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
    }

    /// `name{labels} value` lines of a family, as label text → value.
    static func samples(_ text: String, _ name: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard let space = line.lastIndex(of: " ") else { continue }
            result[String(line[..<space].dropFirst(name.count))] = String(line[line.index(after: space)...])
        }
        return result
    }

    @Test(
        "every fixture: each function's verdict sample and the per-verdict counts are what --json says",
        arguments: snapshots)
    func metricsAgreeWithJSON(_ name: String) throws {
        let snapshot = Fixtures.directory + "/snapshots/" + name
        let report = try Self.inspectJSON(snapshot)
        let devices = try #require(report["devices"] as? [[String: Any]])
        let prom = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--format", "prom"])
        #expect(prom.status == 0, "\(prom.standardError)")
        let verdicts = Self.samples(prom.standardOutput, "vfioctl_device_verdict")
        #expect(verdicts.count == devices.count * 4)
        var counts: [String: Int] = [:]
        for device in devices {
            let address = try #require(device["address"] as? String)
            let verdict = try #require(device["verdict"] as? String)
            counts[verdict, default: 0] += 1
            for candidate in ["assignable", "caveats", "unknown", "blocked"] {
                #expect(
                    verdicts["{address=\"\(address)\",verdict=\"\(candidate)\"}"] == (candidate == verdict ? "1" : "0"),
                    "\(name) \(address) \(candidate)")
            }
        }
        let functions = Self.samples(prom.standardOutput, "vfioctl_functions")
        for candidate in ["assignable", "caveats", "unknown", "blocked"] {
            #expect(functions["{verdict=\"\(candidate)\"}"] == String(counts[candidate] ?? 0), "\(name) \(candidate)")
        }
        let groups = (report["groups"] as? [[String: Any]]) ?? []
        let groupVerdicts = Self.samples(prom.standardOutput, "vfioctl_iommu_group_verdict")
        #expect(groupVerdicts.count == groups.count * 4)
        for group in groups {
            let id = try #require(group["id"] as? Int)
            let verdict = try #require(group["verdict"] as? String)
            #expect(groupVerdicts["{iommu_group=\"\(id)\",verdict=\"\(verdict)\"}"] == "1", "\(name) group \(id)")
        }
    }

    /// Assignable alone, derived from `--json` alone: verdict assignable or caveats, not a
    /// bridge-class function, and every other non-bridge member of its group (the kernel's, else
    /// the predicted one) sits in the same slot below a bridge.
    static func assignableAlone(_ report: [String: Any]) throws -> [String: Int] {
        let devices = try #require(report["devices"] as? [[String: Any]])
        let byAddress = Dictionary(uniqueKeysWithValues: devices.map { ($0["address"] as! String, $0) })
        let isBridgeClass = { (device: [String: Any]) in (device["classCode"] as? String)?.hasPrefix("06") == true }
        let kernelGroups = report["groups"] as? [[String: Any]]
        let groups =
            (kernelGroups?.isEmpty == false ? kernelGroups : report["predictedGroups"] as? [[String: Any]]) ?? []
        var groupOf: [String: [String]] = [:]
        for group in groups {
            let members = group["devices"] as? [String] ?? []
            for member in members { groupOf[member] = members }
        }
        var result: [String: Int] = [:]
        for device in devices where !isBridgeClass(device) {
            let model = "\(device["vendorId"] as! String)_\(device["deviceId"] as! String)"
            result[model, default: 0] += 0
            let address = device["address"] as! String
            guard ["assignable", "caveats"].contains(device["verdict"] as? String), let members = groupOf[address]
            else { continue }
            let others = members.filter { $0 != address && (byAddress[$0].map { !isBridgeClass($0) } ?? true) }
            let slot = { (text: String) in text.split(separator: ".")[0] }
            let alone =
                others.isEmpty
                || (device["parent"] as? String != nil && others.allSatisfy { slot($0) == slot(address) })
            if alone { result[model, default: 0] += 1 }
        }
        return result
    }

    @Test(
        "every fixture: the NFD file names every model with the count --json gives, and nothing else",
        arguments: snapshots)
    func nfdAgreesWithJSON(_ name: String) throws {
        let snapshot = Fixtures.directory + "/snapshots/" + name
        let expected = try Self.assignableAlone(try Self.inspectJSON(snapshot))
        let nfd = try Tool.vfioctl(["inspect", "--snapshot", snapshot, "--format", "nfd"])
        #expect(nfd.status == 0, "\(nfd.standardError)")
        var found: [String: Int] = [:]
        var keys: Set<String> = []
        for line in nfd.standardOutput.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            #expect(parts.count == 2, "\(line)")
            #expect(keys.insert(parts[0]).inserted, "\(parts[0]) twice")
            #expect(parts[0].hasPrefix("vfioctl.feature.node.kubernetes.io/"))
            if let range = parts[0].range(of: "/pci-"), parts[0].hasSuffix(".assignable-alone") {
                let model = String(parts[0][range.upperBound...].dropLast(".assignable-alone".count))
                found[model] = Int(parts[1])
            }
        }
        #expect(keys.contains("vfioctl.feature.node.kubernetes.io/iommu"))
        #expect(keys.contains("vfioctl.feature.node.kubernetes.io/interrupt-remapping"))
        #expect(found == expected, "\(name)")
        // nfd-worker treats `# +` lines as directives: vfioctl never writes one.
        #expect(!nfd.standardOutput.contains("\n# +"))
    }

    @Test("a real node_exporter's textfile collector serves the metrics written with --output, without a scrape error")
    func nodeExporterScrape() throws {
        let exporter = "/usr/bin/prometheus-node-exporter"
        guard FileManager.default.isExecutableFile(atPath: exporter) else {
            throw Tool.Failed(description: "prometheus-node-exporter is not installed: run `make deps`")
        }
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let written = try Tool.vfioctl([
            "inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "prom", "--output", directory + "/vfioctl.prom",
        ])
        #expect(written.status == 0 && written.standardOutput.isEmpty, "\(written.standardError)")
        var page = ""
        for attempt in 0..<5 {
            let port = UInt16.random(in: 20000...60000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: exporter)
            process.arguments = [
                "--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
                "--collector.textfile.directory=\(directory)",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            for _ in 0..<50 {
                if let answer = try? LoopbackHTTP.get(port: port), answer.contains("200 OK") {
                    page = answer
                    break
                }
                if !process.isRunning { break }
                usleep(100_000)
            }
            if !page.isEmpty { break }
            #expect(attempt < 4, "node_exporter did not answer on five ports")
        }
        #expect(page.contains("node_textfile_scrape_error 0"), "\(page.prefix(2000))")
        // Every sample vfioctl wrote is served as written.
        let file = try String(contentsOfFile: directory + "/vfioctl.prom", encoding: .utf8)
        let samples = file.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.count > 50)
        // node_exporter sorts labels and drops empty ones (an empty label is no label in Prometheus).
        let served = Set(page.split(separator: "\n").map(Self.normalized))
        let missing = samples.filter { !served.contains(Self.normalized($0)) }
        #expect(missing.isEmpty, "not served: \(missing)")
        #expect(page.contains("vfioctl_device_verdict{address=\"0000:04:00.0\",verdict=\"caveats\"} 1"))
        #expect(page.contains("vfioctl_host_check{check=\"interrupt-remapping\",status=\"pass\"} 1"))
    }

    /// A sample line with its labels sorted by name and empty ones left out.
    static func normalized(_ line: Substring) -> String {
        guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return String(line) }
        var pairs: [String] = []
        var rest = line[line.index(after: open)..<close]
        while let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals]
            var index = rest.index(equals, offsetBy: 2)
            var value = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\" { index = rest.index(after: index) }
                value.append(rest[index])
                index = rest.index(after: index)
            }
            if !value.isEmpty { pairs.append("\(name)=\(value)") }
            rest = rest[rest.index(after: index)...].drop { $0 == "," }
        }
        return String(line[..<open]) + "{" + pairs.sorted().joined(separator: ",") + "}"
            + line[line.index(after: close)...]
    }

    @Test(
        "--output replaces a regular file whole (mode 0644, no temporary left) and refuses a link, a FIFO, a directory")
    func outputFile() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/vfioctl.prom"
        try "old\n".write(toFile: target, atomically: true, encoding: .utf8)
        chmod(target, 0o600)
        let base = ["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "prom", "--output"]
        let replaced = try Tool.vfioctl(base + [target])
        #expect(replaced.status == 0, "\(replaced.standardError)")
        let printed = try Tool.vfioctl(Array(base.dropLast()))
        #expect(try String(contentsOfFile: target, encoding: .utf8) == printed.standardOutput)
        #expect((try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int) == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["vfioctl.prom"])

        // A symbolic link to a file elsewhere: refused, and neither the link nor its target changes.
        let outside = directory + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try "precious\n".write(toFile: outside + "/passwd", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/link.prom", withDestinationPath: outside + "/passwd")
        let link = try Tool.vfioctl(base + [directory + "/link.prom"])
        #expect(link.status != 0)
        #expect(link.standardError.contains("link.prom is a symbolic link"), "\(link.standardError)")
        #expect(try String(contentsOfFile: outside + "/passwd", encoding: .utf8) == "precious\n")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/link.prom") == outside + "/passwd")

        #expect(mkfifo(directory + "/fifo.prom", 0o644) == 0)
        let fifo = try Tool.vfioctl(base + [directory + "/fifo.prom"])
        #expect(fifo.status != 0 && fifo.standardError.contains("is a FIFO"), "\(fifo.standardError)")
        let isDirectory = try Tool.vfioctl(base + [outside])
        #expect(isDirectory.status != 0 && isDirectory.standardError.contains("is a directory"))
        let missing = try Tool.vfioctl(base + [directory + "/no/such/dir/vfioctl.prom"])
        #expect(missing.status != 0 && missing.standardError.contains("directory"), "\(missing.standardError)")
        #expect(
            try Set(FileManager.default.contentsOfDirectory(atPath: directory)) == [
                "vfioctl.prom", "outside", "link.prom", "fifo.prom",
            ])
    }

    @Test("--output: a trailing slash is refused, a 255-byte name is written, two runs at once both write a whole file")
    func outputNamesAndConcurrentRuns() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = ["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "prom", "--output"]
        let slash = try Tool.vfioctl(base + [directory + "/new/"])
        #expect(slash.status != 0 && slash.standardError.contains("names no file"), "\(slash.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/new"))

        // The longest name the directory takes: the temporary name must not be longer.
        let long = directory + "/" + String(repeating: "m", count: 250) + ".prom"
        let written = try Tool.vfioctl(base + [long])
        #expect(written.status == 0, "\(written.standardError)")
        let expected = try Tool.vfioctl(Array(base.dropLast())).standardOutput
        #expect(try String(contentsOfFile: long, encoding: .utf8) == expected)

        // The timer and an operator at once: each renames its own complete file.
        let target = directory + "/vfioctl.prom"
        for _ in 0..<5 {
            let runs = (0..<2).map { _ in Process() }
            for run in runs {
                run.executableURL = URL(fileURLWithPath: Tool.buildDirectory + "/vfioctl")
                run.arguments = base + [target]
                run.standardOutput = FileHandle.nullDevice
                try run.run()
            }
            for run in runs {
                run.waitUntilExit()
                #expect(run.terminationStatus == 0)
            }
            #expect(try String(contentsOfFile: target, encoding: .utf8) == expected)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    @Test("NFD interrupt-remapping: false when a DMAR unit lacks ECAP.IR, unknown when its ecap was not read")
    func interruptRemappingLabel() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = directory + "/root"
        try Tool.seedTree(at: root)
        let ecap = root + "/sys/class/iommu/dmar0/intel-iommu/ecap"
        let label = { () throws -> String? in
            let nfd = try Tool.vfioctl(["inspect", "--root", root, "--format", "nfd"])
            #expect(nfd.status == 0, "\(nfd.standardError)")
            return nfd.standardOutput.split(separator: "\n").first { $0.contains("/interrupt-remapping=") }
                .map { String($0.split(separator: "=")[1]) }
        }
        #expect(try label() == "true")
        // ECAP bit 3 (IR) clear.
        try "f020f6\n".write(toFile: ecap, atomically: true, encoding: .utf8)
        #expect(try label() == "false")
        try FileManager.default.removeItem(atPath: ecap)
        #expect(try label() == "unknown")
        let json = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        #expect(json.standardOutput.contains("was not read, so interrupt remapping is unknown"))
    }

    @Test("usage errors: --output without prom or nfd, addresses with a whole-host format")
    func usage() throws {
        let text = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot, "--output", "/tmp/x"])
        #expect(text.status != 0 && text.standardError.contains("--output"), "\(text.standardError)")
        let addressed = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot, "--format", "nfd", "04:00.0"])
        #expect(addressed.status != 0 && addressed.standardError.contains("drop the addresses"))
    }
}
