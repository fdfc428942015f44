import Foundation
import PCIModel
import TestSupport
import Testing

/// A copy of the real AMD-Vi lab host (Tests/Fixtures/snapshots/lab-amd-vi-6.1.tar.gz) as a
/// tree, changed in one way at a time, then captured with `vfioctl snapshot create --root` as
/// a host's configuration management would capture it.
struct LabHost {
    var hostname: String?
    /// `sys/class/dmi/id/board_vendor` and `product_name`.
    var board: (vendor: String, product: String)? = ("QEMU", "Standard PC (Q35 + ICH9, 2009)")
    /// Clears root port 00:02.0's ACS control word, with the kernel group the kernel then forms
    /// (the NIC below it, 01:00.0, joins the port's group).
    var acsOffOnPort = false
    var quirks: String?
    /// Removes the kernel's groups (`sys/kernel/iommu_groups`, every `iommu_group` link), as a
    /// host booted without an IOMMU records it: vfioctl then predicts the groups.
    var noKernelGroups = false

    static let snapshot = Fixtures.directory + "/snapshots/lab-amd-vi-6.1.tar.gz"
    static let port = "sys/devices/pci0000:00/0000:00:02.0"

    /// Captures the host as `directory/file`.
    func capture(in directory: String, file: String) throws {
        let tree = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let unpack = try Tool.run("/usr/bin/tar", ["xzf", Self.snapshot, "-C", tree])
        guard unpack.status == 0 else { throw Tool.Failed(description: "tar: \(unpack.standardError)") }
        let files = FileManager.default
        if let hostname {
            try (hostname + "\n").write(toFile: tree + "/proc/sys/kernel/hostname", atomically: true, encoding: .utf8)
        }
        if let board {
            let dmi = tree + "/sys/devices/virtual/dmi/id"
            try files.createDirectory(atPath: dmi, withIntermediateDirectories: true)
            try files.createDirectory(atPath: tree + "/sys/class/dmi", withIntermediateDirectories: true)
            try files.createSymbolicLink(
                atPath: tree + "/sys/class/dmi/id", withDestinationPath: "../../devices/virtual/dmi/id")
            try (board.vendor + "\n").write(toFile: dmi + "/board_vendor", atomically: true, encoding: .utf8)
            try (board.product + "\n").write(toFile: dmi + "/product_name", atomically: true, encoding: .utf8)
        }
        if acsOffOnPort {
            let path = tree + "/" + Self.port + "/config"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let acs = try #require(Self.extendedCapability(0x000d, in: bytes), "no ACS capability on 00:02.0")
            #expect(bytes[acs + 6] == 0x1d, "the lab port's control word is SV RR CR UF")
            bytes[acs + 6] = 0
            bytes[acs + 7] = 0
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let nicLink = tree + "/" + Self.port + "/0000:01:00.0/iommu_group"
            let portGroup = try files.destinationOfSymbolicLink(atPath: tree + "/" + Self.port + "/iommu_group")
            try files.removeItem(atPath: nicLink)
            try files.createSymbolicLink(atPath: nicLink, withDestinationPath: "../" + portGroup)
        }
        if noKernelGroups {
            try files.removeItem(atPath: tree + "/sys/kernel/iommu_groups")
            let devices = tree + "/sys/devices"
            for path in files.subpaths(atPath: devices) ?? [] where path.hasSuffix("/iommu_group") {
                try files.removeItem(atPath: devices + "/" + path)
            }
        }
        if let quirks {
            try files.createDirectory(atPath: tree + "/etc/vfioctl/quirks.d", withIntermediateDirectories: true)
            try quirks.write(toFile: tree + "/etc/vfioctl/quirks.d/site.toml", atomically: true, encoding: .utf8)
        }
        let result = try Tool.vfioctl(["snapshot", "create", "--root", tree, "-o", directory + "/" + file])
        guard result.status == 0 else { throw Tool.Failed(description: "snapshot create: \(result.standardError)") }
    }

    /// The offset of extended capability `id` (PCIe 7.6: a chain from 0x100).
    static func extendedCapability(_ id: UInt16, in bytes: [UInt8]) -> Int? {
        var offset = 0x100
        var seen = 0
        while offset >= 0x100, offset + 4 <= bytes.count, seen < 64 {
            let header =
                UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                | UInt32(bytes[offset + 3]) << 24
            if UInt16(header & 0xffff) == id { return offset }
            offset = Int(header >> 20) & 0xffc
            seen += 1
        }
        return nil
    }

}

@Suite("vfioctl report: the fleet view over a directory of snapshots")
struct ReportCLITests {
    static let hostile = "<script>alert(\"x\")</script> & co"

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func flat(_ text: String) -> String {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    /// alpha and bravo: the lab host; charlie: its port's ACS off; the hostile name: a site
    /// quirk on the NVMe; seed-host: another board (the seed fixture, named by its file).
    static func fleet() throws -> String {
        let directory = try Tool.temporaryDirectory()
        try LabHost(hostname: "alpha").capture(in: directory, file: "h1.tar.gz")
        try LabHost(hostname: "bravo").capture(in: directory, file: "h2.tar.gz")
        try LabHost(hostname: "charlie", acsOffOnPort: true).capture(in: directory, file: "h3.tar.gz")
        try LabHost(hostname: hostile, quirks: TestQuirks.qemuNVMeNote).capture(in: directory, file: "h4.tar.gz")
        try FileManager.default.copyItem(atPath: Fixtures.seedSnapshot, toPath: directory + "/seed-host.tar.gz")
        return directory
    }

    @Test("JSON: exactly the ACS change and the site quirk differ, on the board they were made on")
    func introducedDifferences() throws {
        let directory = try Self.fleet()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["report", directory, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        #expect(json["kind"] as? String == "fleet-report")
        #expect(json["schemaVersion"] as? Int == 1)
        let hosts = json["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.map { $0["name"] as? String } == [Self.hostile, "alpha", "bravo", "charlie", "seed-host"])
        #expect(
            hosts.map { $0["file"] as? String } == [
                "h4.tar.gz", "h1.tar.gz", "h2.tar.gz", "h3.tar.gz", "seed-host.tar.gz",
            ])
        let boards = json["boards"] as? [[String: Any]] ?? []
        #expect(boards.count == 2)
        let qemu = try #require(boards.first { ($0["board"] as? [String: Any])?["kind"] as? String == "dmi" })
        #expect((qemu["board"] as? [String: Any])?["vendor"] as? String == "QEMU")
        #expect(qemu["hosts"] as? [String] == [Self.hostile, "alpha", "bravo", "charlie"])
        #expect(boards.first { $0["hosts"] as? [String] == ["seed-host"] } != nil)

        let models = json["models"] as? [[String: Any]] ?? []
        let differing = models.filter { $0["differs"] as? Bool == true }
        #expect(differing.map { $0["ids"] as? String } == ["1b36:0010", "8086:10d3"])
        func aspects(_ model: [String: Any]) -> [String: [[String: Any]]] {
            var result: [String: [[String: Any]]] = [:]
            for aspect in model["aspects"] as? [[String: Any]] ?? [] where aspect["differs"] as? Bool == true {
                result[aspect["aspect"] as? String ?? ""] = aspect["variants"] as? [[String: Any]]
            }
            return result
        }
        let nic = aspects(differing[1])
        // The quirk and verdict aspects follow from the ACS change (libvirt's relaxed-ACS quirk
        // matches functions whose path lacks ACS, and the verdict names the port); nothing of
        // the quirk file shows on the NIC. Only the NIC below the port is shown: the model's
        // other two functions are the same on every host.
        #expect(Set(nic.keys) == ["group-layout", "upstream-acs", "quirks", "verdict"])
        #expect(
            nic["verdict"]?.map { $0["value"] as? [String] } == [
                ["0000:01:00.0: assignable"], ["0000:01:00.0: caveats: acs-missing"],
            ])
        let why = nic["verdict"]?.last?["why"] as? [String] ?? []
        #expect(why.count == 1 && why[0].hasPrefix("charlie 0000:01:00.0: upstream root-port 0000:00:02.0 [1b36:000c]"))
        for (aspect, variants) in nic {
            #expect(
                variants.map { $0["hosts"] as? [String] } == [[Self.hostile, "alpha", "bravo"], ["charlie"]],
                "\(aspect)")
        }
        let explanations = differing[1]["explanations"] as? [[String: Any]] ?? []
        #expect(explanations.map { $0["host"] as? String } == ["charlie"])
        #expect(explanations.first?["reference"] as? String == Self.hostile)
        let reasons = explanations.first?["reasons"] as? [[String: Any]] ?? []
        #expect(reasons.map { $0["code"] as? String } == ["acs-control"])
        #expect(reasons.first?["address"] as? String == "0000:00:02.0")
        #expect(reasons.first?["before"] as? Int == 0x1d)
        #expect(reasons.first?["after"] as? Int == 0)

        let nvme = aspects(differing[0])
        #expect(Array(nvme.keys) == ["quirks"] || Set(nvme.keys) == ["quirks", "verdict"])
        #expect(nvme["quirks"]?.map { $0["hosts"] as? [String] } == [["alpha", "bravo", "charlie"], [Self.hostile]])
        #expect((nvme["quirks"]?.last?["value"] as? [String])?.first?.contains("site-qemu-nvme-note") == true)
        #expect((nvme["quirks"]?.first?["value"] as? [String])?.first?.contains("site-qemu-nvme-note") == false)
    }

    @Test("text: hosts agreeing, hosts differing and how, and the reason from diff")
    func text() throws {
        let directory = try Self.fleet()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["report", directory])
        #expect(result.status == 0, "\(result.standardError)")
        let out = result.standardOutput
        #expect(Self.flat(out).hasPrefix("Fleet report of \(directory): 5 hosts, 2 boards; 2 of "))
        let long = out.split(separator: "\n").map(String.init).filter { $0.count > 100 }
        #expect(long.isEmpty, "\(long)")
        let flat = Self.flat(out)
        #expect(flat.contains("differs in group layout: \(Self.hostile), alpha, bravo: 0000:01:00.0: alone charlie:"))
        #expect(flat.contains("charlie: 0000:01:00.0: shared with 1: 1b36:000c (class 0604)"))
        #expect(
            flat.contains(
                "because (A = \(Self.hostile), B = charlie): ACS control word of 0000:00:02.0: 0x001d (SV RR CR UF) → 0x0000 (none)"
            ))
        #expect(
            flat.contains(
                "Board vendor \"QEMU\", product \"Standard PC (Q35 + ICH9, 2009)\": \(Self.hostile), alpha, bravo, charlie"
            ))
        #expect(flat.contains("Same on its one host (1): 8086:10c9 [8086:a03c]"))
    }

    @Test("HTML: one self-contained page, every host string escaped")
    func html() throws {
        let directory = try Self.fleet()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Tool.vfioctl(["report", directory, "--format", "html"])
        #expect(result.status == 0, "\(result.standardError)")
        let page = result.standardOutput
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.hasSuffix("</body></html>\n"))
        #expect(!page.contains("<script"))
        #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"))
        #expect(!page.contains("src=") && !page.contains("href="))
        for tag in ["details", "table", "tr", "ul", "li", "pre", "summary", "p"] {
            let opened =
                page.components(separatedBy: "<\(tag)>").count + page.components(separatedBy: "<\(tag) ").count - 2
            let closed = page.components(separatedBy: "</\(tag)>").count - 1
            #expect(opened == closed, "<\(tag)>: \(opened) opened, \(closed) closed")
        }
        #expect(page.contains("ACS control word of 0000:00:02.0"))
    }

    @Test("a corrupt snapshot is named and the rest reported; links and FIFOs are skipped unopened")
    func badEntries() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let seed = try Data(contentsOf: URL(fileURLWithPath: Fixtures.seedSnapshot))
        try seed.write(to: URL(fileURLWithPath: directory + "/seed-host.tar.gz"))
        try seed.prefix(seed.count / 2).write(to: URL(fileURLWithPath: directory + "/broken.tar.gz"))
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/link.tar.gz", withDestinationPath: directory + "/seed-host.tar.gz")
        #expect(mkfifo(directory + "/pipe.tar.gz", 0o600) == 0)
        try "notes".write(toFile: directory + "/README", atomically: true, encoding: .utf8)
        let result = try Tool.vfioctl(["report", directory, "--json"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("Error: \(directory)/broken.tar.gz: "))
        #expect(result.standardError.contains("1 of 2 snapshots could not be read: broken.tar.gz"))
        #expect(result.standardError.contains("skipped \(directory)/link.tar.gz: a symbolic link, not followed"))
        #expect(result.standardError.contains("skipped \(directory)/pipe.tar.gz: a FIFO, not opened"))
        #expect(
            result.standardError.contains("Note: ignored 1 entry of \(directory) that is not *.tar.gz or *.tgz"))
        let json = try Self.json(result.standardOutput)
        #expect((json["hosts"] as? [[String: Any]])?.map { $0["name"] as? String } == ["seed-host"])
        #expect((json["unreadable"] as? [[String: Any]])?.map { $0["file"] as? String } == ["broken.tar.gz"])
        #expect((json["skipped"] as? [[String: Any]])?.map { $0["file"] as? String } == ["link.tar.gz", "pipe.tar.gz"])
    }

    @Test("nothing to report: an empty directory, a file, a missing path, only unreadable snapshots")
    func nothingToReport() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let empty = try Tool.vfioctl(["report", directory])
        #expect(empty.status == 2)
        #expect(empty.standardError.contains("Error: \(directory) holds no snapshots (*.tar.gz)"))
        #expect(empty.standardOutput.isEmpty)
        let file = try Tool.vfioctl(["report", Fixtures.seedSnapshot])
        #expect(file.status == 2)
        #expect(file.standardError.contains("is not a directory"))
        #expect(file.standardError.contains("vfioctl inspect --snapshot"))
        let missing = try Tool.vfioctl(["report", directory + "/nowhere"])
        #expect(missing.status == 2)
        #expect(missing.standardError.contains("\(directory)/nowhere: No such file or directory"))
        try "not gzip".write(toFile: directory + "/junk.tar.gz", atomically: true, encoding: .utf8)
        let junk = try Tool.vfioctl(["report", directory])
        #expect(junk.status == 2)
        #expect(junk.standardError.contains("junk.tar.gz"))
        #expect(junk.standardError.contains("none of the 1 snapshot in"))
        #expect(junk.standardError.contains("not gzip-compressed"))
    }

    @Test("two snapshots of one hostname stay two hosts, told apart by file")
    func duplicateHostnames() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LabHost(hostname: "twin").capture(in: directory, file: "monday.tar.gz")
        try LabHost(hostname: "twin", acsOffOnPort: true).capture(in: directory, file: "tuesday.tar.gz")
        let result = try Tool.vfioctl(["report", directory, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        #expect(
            (json["hosts"] as? [[String: Any]])?.map { $0["name"] as? String } == [
                "twin (monday.tar.gz)", "twin (tuesday.tar.gz)",
            ])
        let differing = (json["models"] as? [[String: Any]] ?? []).filter { $0["differs"] as? Bool == true }
        #expect(differing.map { $0["ids"] as? String } == ["8086:10d3"])
    }

    @Test("a progress line per snapshot on a terminal; nothing of it in a pipe")
    func progress() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["one", "two"] {
            try FileManager.default.copyItem(atPath: Fixtures.seedSnapshot, toPath: "\(directory)/\(name).tar.gz")
        }
        let onTerminal = try Tool.run(
            "/usr/bin/script", ["-qec", "\(Tool.buildDirectory)/vfioctl report \(directory)", "/dev/null"])
        #expect(onTerminal.status == 0, "\(onTerminal.standardError)")
        #expect(onTerminal.standardOutput.contains("reading snapshot 1/2: one.tar.gz"))
        #expect(onTerminal.standardOutput.contains("reading snapshot 2/2: two.tar.gz"))
        let piped = try Tool.vfioctl(["report", directory])
        #expect(piped.status == 0)
        #expect(!piped.standardError.contains("reading snapshot") && !piped.standardOutput.contains("\u{1b}"))
        #expect(piped.standardOutput.contains("one, two"))
    }

    @Test("--help has examples; --format and --json must agree")
    func help() throws {
        let help = try Tool.vfioctl(["report", "--help"])
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("vfioctl report /srv/snapshots --format html > fleet.html"))
        let conflict = try Tool.vfioctl(["report", "/tmp", "--json", "--format", "html"])
        #expect(conflict.status != 0)
        #expect(conflict.standardError.contains("--format html conflicts with --json"))
    }

    @Test("a hostname that is another host's generated name: three hosts, three names, each difference its own")
    func hostnameTakingAGeneratedName() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LabHost(hostname: "node1").capture(in: directory, file: "h1.tar.gz")
        try LabHost(hostname: "node1", acsOffOnPort: true).capture(in: directory, file: "h2.tar.gz")
        try LabHost(hostname: "node1 (h1.tar.gz)").capture(in: directory, file: "h3.tar.gz")
        let result = try Tool.vfioctl(["report", directory, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        let hosts = json["hosts"] as? [[String: Any]] ?? []
        let names = hosts.compactMap { $0["name"] as? String }
        #expect(names.count == 3 && Set(names).count == 3, "\(names)")
        #expect(Set(hosts.compactMap { $0["file"] as? String }) == ["h1.tar.gz", "h2.tar.gz", "h3.tar.gz"])
        // The host recorded as `node1 (h1.tar.gz)` keeps its name; h1's own becomes another.
        let byFile = Dictionary(
            hosts.map { ($0["file"] as? String ?? "", $0["name"] as? String ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(byFile["h3.tar.gz"] == "node1 (h1.tar.gz)")
        #expect(byFile["h2.tar.gz"] == "node1 (h2.tar.gz)")
        // Only h2 has the port's ACS off: the NIC's layout difference is pinned on h2 alone.
        let nic = try #require((json["models"] as? [[String: Any]] ?? []).first { $0["ids"] as? String == "8086:10d3" })
        let layout = (nic["aspects"] as? [[String: Any]] ?? []).first { $0["aspect"] as? String == "group-layout" }
        let variants = layout?["variants"] as? [[String: Any]] ?? []
        #expect(variants.last?["hosts"] as? [String] == [byFile["h2.tar.gz"] ?? "?"])
        let explanations = nic["explanations"] as? [[String: Any]] ?? []
        #expect(explanations.map { $0["host"] as? String } == [byFile["h2.tar.gz"]])
    }

    @Test("a snapshot whose file name is not UTF-8 is read, and shown escaped")
    func nonUTF8FileName() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Fixtures.seedSnapshot, toPath: directory + "/plain.tar.gz")
        // `caf\xe9.tar.gz`: Latin-1, as an old script may name it; no String can hold it.
        let raw = Array((directory + "/caf").utf8CString.dropLast()) + [CChar(bitPattern: 0xe9)] + ".tar.gz".utf8CString
        #expect(rename(directory + "/plain.tar.gz", raw) == 0)
        let result = try Tool.vfioctl(["report", directory, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try Self.json(result.standardOutput)
        let hosts = json["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.map { $0["file"] as? String } == ["caf\\xe9.tar.gz"])
        #expect(hosts.map { $0["name"] as? String } == ["caf\\xe9"])
        #expect((json["skipped"] as? [Any])?.isEmpty == true)
    }

    @Test("a newline in a hostname cannot forge a line of the text report")
    func controlCharactersEscaped() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LabHost(hostname: "evil\nBoard forged: everything fine").capture(in: directory, file: "h1.tar.gz")
        try LabHost(hostname: "good").capture(in: directory, file: "h2.tar.gz")
        let result = try Tool.vfioctl(["report", directory])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("Board forged") }, "\(lines)")
        #expect(result.standardOutput.contains("evil\\nBoard forged: everything fine"))
    }

    @Test("an empty or non-gzip file is named once, accurately; *.TGZ counts; 1 of 1 snapshot")
    func notSnapshots() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Fixtures.seedSnapshot, toPath: directory + "/SEED.TGZ")
        try Data().write(to: URL(fileURLWithPath: directory + "/empty.tar.gz"))
        try "plain text".write(toFile: directory + "/text.tar.gz", atomically: true, encoding: .utf8)
        let result = try Tool.vfioctl(["report", directory])
        #expect(result.status == 1)
        let errors = result.standardError.split(separator: "\n").map(String.init)
        let empty = try #require(errors.first { $0.contains("empty.tar.gz") && $0.hasPrefix("Error:") })
        #expect(empty.contains("an empty file"), "\(empty)")
        #expect(empty.components(separatedBy: "empty.tar.gz").count == 2, "named once: \(empty)")
        let text = try #require(errors.first { $0.contains("text.tar.gz") && $0.hasPrefix("Error:") })
        #expect(text.contains("not gzip-compressed"), "\(text)")
        #expect(!result.standardError.contains("end-of-archive"))
        #expect(result.standardOutput.contains("SEED [SEED.TGZ]"))
        #expect(result.standardError.contains("2 of 3 snapshots could not be read: empty.tar.gz, text.tar.gz"))
    }

    @Test("predicted groups of the kernel's shape do not differ; a difference on them is noted")
    func predictedGroups() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LabHost(hostname: "alpha").capture(in: directory, file: "h1.tar.gz")
        try LabHost(hostname: "bravo", noKernelGroups: true).capture(in: directory, file: "h2.tar.gz")
        let same = try Tool.vfioctl(["report", directory])
        #expect(same.status == 0, "\(same.standardError)")
        #expect(
            same.standardOutput.contains("bravo [h2.tar.gz]: kernel 6.1.0-57-amd64, 15 functions, predicted groups"))
        #expect(!same.standardOutput.contains("differs in group layout"), "\(same.standardOutput)")
        try LabHost(hostname: "charlie", acsOffOnPort: true, noKernelGroups: true).capture(
            in: directory, file: "h3.tar.gz")
        let differing = try Tool.vfioctl(["report", directory])
        let flat = Self.flat(differing.standardOutput)
        #expect(flat.contains("differs in group layout: alpha, bravo: 0000:01:00.0: alone charlie:"), "\(flat)")
        #expect(
            flat.contains(
                "note: groups on bravo, charlie are predicted (no kernel groups in the snapshot): the difference may"))
    }
}
