import Foundation
import TestSupport
import Testing

/// Snapshots come from strangers (bug reports). Each archive here is built entry by entry
/// with Python's tarfile, the way an attacker would, on top of the real seed snapshot's
/// entries, and `vfioctl inspect --snapshot` must refuse it by name, create nothing outside
/// its private directory, and leave no unpacked copy behind.
@Suite("Hostile snapshot archives")
struct HostileSnapshotTests {
    /// Writes `archive` from the seed snapshot plus `extra`, Python code that adds entries to
    /// the open `tarfile` `out` (helpers `add_file(name, data)` and `add(info)`).
    func craft(_ archive: String, _ extra: String) throws {
        let script = """
            import io, sys, tarfile
            seed, target = sys.argv[1], sys.argv[2]
            with tarfile.open(seed, "r:gz") as src, tarfile.open(target, "w:gz", format=tarfile.GNU_FORMAT) as out:
                for member in src.getmembers():
                    out.addfile(member, src.extractfile(member) if member.isfile() else None)
                def add_file(name, data):
                    info = tarfile.TarInfo(name); info.size = len(data); out.addfile(info, io.BytesIO(data))
                def add(info):
                    out.addfile(info)
            \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """
        let result = try Tool.run("/usr/bin/python3", ["-c", script, Fixtures.seedSnapshot, archive])
        #expect(result.status == 0, "\(result.standardError)")
    }

    func expectRefused(_ extra: String, saying phrase: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let archive = directory + "/hostile.tar.gz"
        try craft(archive, extra)
        let temporary = directory + "/tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let result = try Tool.vfioctl(["inspect", "--snapshot", archive], environment: ["TMPDIR": temporary])
        #expect(result.status != 0, sourceLocation: sourceLocation)
        #expect(result.standardError.contains(phrase), "\(result.standardError)", sourceLocation: sourceLocation)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty, "an unpacked copy was left behind",
            sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: directory + "/escaped"), sourceLocation: sourceLocation)
    }

    @Test("the seed snapshot, re-packed entry by entry, still reads (the crafting itself is sound)")
    func control() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try craft(directory + "/plain.tar.gz", "pass")
        let result = try Tool.vfioctl(["inspect", "--snapshot", directory + "/plain.tar.gz"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("9 PCI functions"))
    }

    @Test("device nodes, FIFOs and hard links are refused, never created")
    func specialEntries() throws {
        try expectRefused(
            "info = tarfile.TarInfo('./dev/sda'); info.type = tarfile.CHRTYPE; info.devmajor = 8; add(info)",
            saying: "dev/sda is a character device")
        try expectRefused(
            "info = tarfile.TarInfo('./sys/fifo'); info.type = tarfile.FIFOTYPE; add(info)", saying: "is a FIFO")
        try expectRefused(
            "info = tarfile.TarInfo('./sys/hard'); info.type = tarfile.LNKTYPE; info.linkname = 'etc/passwd'; add(info)",
            saying: "is a hard link")
    }

    @Test("absolute paths and .. are refused")
    func paths() throws {
        try expectRefused("add_file('/tmp/escaped', b'x')", saying: "absolute path")
        try expectRefused("add_file('./../escaped', b'x')", saying: "leaves the snapshot")
    }

    @Test("a file placed through a link an earlier entry made is refused")
    func throughLink() throws {
        let outside = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try expectRefused(
            """
            info = tarfile.TarInfo('./evil'); info.type = tarfile.SYMTYPE; info.linkname = '\(outside)'; add(info)
            add_file('./evil/planted', b'x')
            """, saying: "would be placed through a link")
        #expect(!FileManager.default.fileExists(atPath: outside + "/planted"))
    }

    @Test("a small archive that expands past the per-file limit is refused before it fills the disk")
    func bomb() throws {
        try expectRefused("add_file('./sys/bomb', bytes(64 << 20))", saying: "over the 4 MiB limit per file")
    }

    @Test("a snapshot whose config links to a host file reads the root's file, not the host's")
    func linkToHostFile() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let archive = directory + "/linked.tar.gz"
        // Replace the root port's config with a link to /etc/passwd: an attribute that is a
        // link is an anomaly naming the device, the other eight functions are still read, and
        // nothing of the host's /etc/passwd appears.
        let script = """
            import io, sys, tarfile
            seed, target = sys.argv[1], sys.argv[2]
            with tarfile.open(seed, "r:gz") as src, tarfile.open(target, "w:gz", format=tarfile.GNU_FORMAT) as out:
                for member in src.getmembers():
                    if member.name.endswith('0000:00:03.0/config'):
                        link = tarfile.TarInfo(member.name); link.type = tarfile.SYMTYPE; link.linkname = '/etc/passwd'
                        out.addfile(link)
                        continue
                    out.addfile(member, src.extractfile(member) if member.isfile() else None)
            """
        #expect(try Tool.run("/usr/bin/python3", ["-c", script, Fixtures.seedSnapshot, archive]).status == 0)
        let result = try Tool.vfioctl(["inspect", "--snapshot", archive, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardOutput.contains("root:x:0:0"))
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let anomalies = report["anomalies"] as? [String] ?? []
        #expect(anomalies.contains { $0.hasPrefix("0000:00:03.0:") && $0.contains("config is a symbolic link") })
        let addresses = (report["devices"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        #expect(!addresses.contains("0000:00:03.0") && addresses.count == 8)
    }

    /// The seed snapshot's tar stream with `padding` zero bytes after tar's own end, gzipped;
    /// `corruptTrailer` flips a bit of gzip's CRC.
    func padded(_ archive: String, padding: Int, corruptTrailer: Bool = false) throws {
        let script = """
            import gzip, sys
            seed, target, padding, corrupt = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
            data = gzip.compress(gzip.decompress(open(seed, "rb").read()) + bytes(padding))
            if corrupt:
                data = data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]
            open(target, "wb").write(data)
            """
        let result = try Tool.run(
            "/usr/bin/python3",
            ["-c", script, Fixtures.seedSnapshot, archive, String(padding), corruptTrailer ? "1" : "0"])
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test(
        "padding after tar's end is read, not cut: gzip never dies of SIGPIPE on a sound snapshot",
        arguments: [0, 1 << 20, 8 << 20])
    func trailingPadding(bytes: Int) throws {
        // 1 MiB is far more than a pipe holds: closing the pipe at tar's end-of-archive
        // marker killed gzip mid-write, every time, and the snapshot was refused.
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let archive = directory + "/padded.tar.gz"
        try padded(archive, padding: bytes)
        let result = try Tool.vfioctl(["inspect", "--snapshot", archive])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("9 PCI functions"))
    }

    @Test(
        "a gzip trailer whose CRC does not match is still refused, however much padding comes first",
        arguments: [0, 2 << 20])
    func corruptTrailer(padding: Int) throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let archive = directory + "/crc.tar.gz"
        try padded(archive, padding: padding, corruptTrailer: true)
        let result = try Tool.vfioctl(["inspect", "--snapshot", archive])
        #expect(result.status != 0)
        #expect(result.standardError.contains("gzip cannot decompress it"), "\(result.standardError)")
    }
}
