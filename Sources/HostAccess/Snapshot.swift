import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Snapshots: the subset of /sys and /proc that the analyses read, as a directory tree
/// with a manifest, packed as `.tar.gz`. Replaying one gives the exact same analysis.
public enum Snapshot {
    /// The manifest at the top of every snapshot.
    public static let manifestName = "vfioctl-snapshot.json"
    /// 2: adds `proc/iomem`, `class/graphics/fbN`, `class/vtconsole/vtconN`, display
    /// functions' `resource`, and ports' service children (`ADDR:pcieNNN/driver`). A reader
    /// of version 2 reads version 1 (those facts are then unknown) and refuses newer ones.
    public static let formatVersion = 2
    public static let oldestReadableVersion = 1

    /// Reads `roots` while recording every path, then copies exactly those paths (and the
    /// files lspci needs to replay the tree) into `staging`, which must be an empty directory.
    /// Paths that could not be copied are returned in `skipped` (each with the reason).
    public static func capture(from roots: HostRoots, into staging: FilePath, tool: String) throws(HostAccessError)
        -> (model: HostModel, skipped: [String])
    {
        let recorder = AccessRecorder()
        let model = try SysfsHostReader(roots: roots, recorder: recorder).read(source: "snapshot capture")
        let sys = roots.sys
        // Local quirk files belong to the host's analysis too (inspect reads them from the
        // snapshot when replaying it).
        var top = roots.top
        top.recorder = recorder
        for name in try top.list("etc/vfioctl/quirks.d") ?? [] where name.hasSuffix(".toml") {
            _ = try top.readText("etc/vfioctl/quirks.d/\(name)", limit: InputLimits.configurationFileBytes)
        }
        // lspci (the reference decoder) reads these too; capturing them lets anyone run
        // `lspci -A linux-sysfs -O sysfs.path=SNAPSHOT/sys/bus/pci` on a snapshot.
        for device in model.devices {
            for name in ["resource", "irq", "vendor", "device", "class"] {
                recorder.record(try sys.resolve("bus/pci/devices/\(device.address)/\(name)").string)
            }
        }
        let copier = TreeCopier(source: roots.base, destination: staging)
        var skipped: [String] = []
        for path in recorder.recorded {
            do {
                try copier.copy(absolute: path)
            } catch {
                skipped.append(error.message)
            }
        }
        let uid = getuid()
        let configNote = uid == 0 ? "full" : "first 64 bytes only (captured without root)"
        try FileTree.writeText(
            staging.appending(manifestName),
            """
            {"format": "vfioctl-snapshot", "version": \(formatVersion), "createdBy": "\(tool)", \
            "devices": \(model.devices.count), "configSpace": "\(configNote)"}

            """)
        return (model, skipped)
    }

    /// Writes the manifest of a snapshot built from something other than a live host.
    public static func writeManifest(in directory: FilePath, tool: String, origin: String, devices: Int)
        throws(HostAccessError)
    {
        try FileTree.writeText(
            directory.appending(manifestName),
            """
            {"format": "vfioctl-snapshot", "version": \(formatVersion), "createdBy": "\(tool)", \
            "origin": "\(origin.replacingAll("\"", with: "'"))", "devices": \(devices), "configSpace": "full"}

            """)
    }

    /// Packs `directory` into a reproducible `.tar.gz` at `output`.
    public static func archive(_ directory: FilePath, to output: String) throws(HostAccessError) {
        let result = try ChildProcess.run([
            "tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
            "-I", "gzip -n", "-cf", output, "-C", directory.string, ".",
        ])
        guard result.status == 0 else {
            throw HostAccessError(.ioError, "could not write \(output): tar: \(result.standardError)", path: output)
        }
    }

    /// Opens a snapshot for reading: a directory is used in place, a `.tar.gz` is unpacked
    /// by `SnapshotArchive` into a private directory under `$TMPDIR` (default /tmp) that is
    /// removed when the returned value goes away, and on any error while unpacking.
    public static func open(_ path: String) throws(HostAccessError) -> OpenedSnapshot {
        switch FileTree.kind(of: FilePath(path)) {
        case .missing:
            throw HostAccessError(.notFound, "no snapshot at \(path)", path: path)
        case .directory:
            try checkManifest(in: FilePath(path), named: path)
            return OpenedSnapshot(roots: HostRoots(base: FilePath(path)), temporary: nil)
        default:
            let directory = try TemporaryDirectory.make(prefix: "vfioctl-snapshot")
            let opened = OpenedSnapshot(roots: HostRoots(base: directory), temporary: directory)
            try SnapshotArchive(archive: path, destination: directory).unpack()
            try checkManifest(in: directory, named: path)
            return opened
        }
    }

    /// Opens a snapshot `.tar.gz` the caller has open as `fd` (read from its current offset,
    /// not closed), unpacked as `open` unpacks a path: for a caller that opened the file
    /// itself (`vfioctl report` opens each by the raw name `readdir` gave, which need not be
    /// UTF-8). `name` names it in errors.
    public static func open(descriptor fd: Int32, name: String) throws(HostAccessError) -> OpenedSnapshot {
        let directory = try TemporaryDirectory.make(prefix: "vfioctl-snapshot")
        let opened = OpenedSnapshot(roots: HostRoots(base: directory), temporary: directory)
        try SnapshotArchive(archive: name, destination: directory).unpack(from: fd)
        try checkManifest(in: directory, named: name)
        return opened
    }

    /// Unpacks an uncompressed tar stream from `fd` into the existing, empty `directory` by the
    /// same reader and limits `open` uses for archives (the entry point of the `snapshot` fuzz
    /// target); `name` names the input in errors.
    public static func unpackTar(from fd: Int32, into directory: FilePath, name: String) throws(HostAccessError) {
        var stream = PipeReader(fd: fd)
        try SnapshotArchive(archive: name, destination: directory).extract(from: &stream)
    }

    /// The `"version": N` of a manifest: the digits after the key's colon (spaces allowed
    /// around it), ending at `,`, `}` or a space; nil when absent or not such a number, which
    /// the caller refuses.
    static func manifestVersion(_ manifest: String) -> Int? {
        guard let key = manifest.firstRange(of: "\"version\"") else { return nil }
        var rest = manifest[key.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        let after = rest.dropFirst(digits.count).first
        guard !digits.isEmpty, digits.count <= 6, after == nil || after == "," || after == "}" || after == " " else {
            return nil
        }
        return Int(digits)
    }

    private static func checkManifest(in directory: FilePath, named: String) throws(HostAccessError) {
        let top = RootedFileSystem(root: directory)
        guard let manifest = try top.readText(manifestName) else {
            throw HostAccessError(
                .invalidInput, "\(named) is not a vfioctl snapshot: it has no \(manifestName)", path: named)
        }
        guard manifest.contains("\"format\": \"vfioctl-snapshot\"") else {
            throw HostAccessError(
                .invalidInput, "\(named): \(manifestName) is not a vfioctl snapshot manifest", path: named)
        }
        guard let version = manifestVersion(manifest) else {
            throw HostAccessError(
                .invalidInput, "\(named): \(manifestName) has no \"version\": N that vfioctl can read", path: named)
        }
        if !(oldestReadableVersion...formatVersion).contains(version) {
            throw HostAccessError(
                .invalidInput,
                "\(named) is snapshot format \(version); this vfioctl reads formats \(oldestReadableVersion) to \(formatVersion): "
                    + (version > formatVersion
                        ? "upgrade vfioctl to replay it" : "it is not a format vfioctl ever wrote"),
                path: named)
        }
        guard top.exists("sys/bus/pci/devices") else {
            throw HostAccessError(
                .invalidInput, "\(named) is incomplete: it has no sys/bus/pci/devices (truncated archive?)", path: named
            )
        }
    }
}

/// An open snapshot; removes its unpacked copy on deinit.
public final class OpenedSnapshot: Sendable {
    public let roots: HostRoots
    private let temporary: FilePath?

    init(roots: HostRoots, temporary: FilePath?) {
        self.roots = roots
        self.temporary = temporary
    }

    deinit { removeNow() }

    /// Removes the unpacked copy now (before a fast exit that skips deinit); idempotent.
    public func removeNow() {
        guard let temporary, FileTree.kind(of: temporary) == .directory else { return }
        FileTree.removeTree(temporary)
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
