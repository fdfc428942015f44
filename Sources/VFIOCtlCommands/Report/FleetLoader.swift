import Analysis
import Fleet
import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// Reads every snapshot of a `ReportDirectory` as `vfioctl diff` reads one operand
/// (`EvaluatedOperand`: the same safe unpacking and the snapshot's own quirks), one at a
/// time, removing each unpacked copy as soon as it is read. Each file is opened by its raw
/// name (`O_NOFOLLOW`), so a name that is not UTF-8 is read like any other. A snapshot that
/// cannot be read is a failure naming the file; the others are still read.
enum FleetLoader {
    struct Failure {
        var file: ReportFileName
        /// What is wrong, without the file's path (the caller puts it in front).
        var message: String
    }

    struct Loaded {
        var hosts: [FleetHost] = []
        var failures: [Failure] = []
    }

    static func load(_ listing: ReportDirectory, progress: ProgressLine) -> Loaded {
        var loaded = Loaded()
        for (index, file) in listing.snapshots.enumerated() {
            progress.update("reading snapshot \(index + 1)/\(listing.snapshots.count): \(file)")
            do throws(Failure) {
                let evaluated = try read(file, in: listing)
                evaluated.snapshot?.removeNow()
                let name = evaluated.report.model.facts.hostname ?? file.stem
                loaded.hosts.append(
                    FleetHost(
                        name: name, file: file.description, report: evaluated.report, quirks: evaluated.quirks))
            } catch {
                loaded.failures.append(error)
            }
        }
        progress.finish()
        return loaded
    }

    /// Opens `file` and reads it; an empty or non-gzip file is named as such before any
    /// unpacking (gzip would only say the stream ended early).
    private static func read(_ file: ReportFileName, in listing: ReportDirectory) throws(Failure)
        -> EvaluatedOperand
    {
        func fail(_ message: String) -> Failure { Failure(file: file, message: message) }
        let fd = open(listing.rawPath(of: file), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw fail("no longer a regular file; it changed while the directory was read")
        }
        guard info.st_size > 0 else {
            throw fail("an empty file, not a snapshot; write one with `vfioctl snapshot create -o HOST.tar.gz`")
        }
        var magic: [UInt8] = [0, 0]
        let got = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 2, 0) }
        guard got == 2, magic == [0x1f, 0x8b] else {
            throw fail(
                "not gzip-compressed, so not a snapshot (.tar.gz); write one with "
                    + "`vfioctl snapshot create -o HOST.tar.gz`")
        }
        let path = listing.path(of: file)
        do {
            let snapshot = try Snapshot.open(descriptor: fd, name: path)
            return try EvaluatedOperand(snapshot: snapshot, name: path)
        } catch {
            // The snapshot's errors name it already, as `snapshot PATH: …` or `PATH …`.
            var message = "\(error)"
            for prefix in ["snapshot \(path): ", "\(path): "] where message.hasPrefix(prefix) {
                message.removeFirst(prefix.count)
            }
            if message.hasPrefix(path + " ") { message = "it" + message.dropFirst(path.count) }
            throw fail(message)
        }
    }
}

extension FleetLoader.Failure: Error {}
