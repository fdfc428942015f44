import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// vfioctl's own state files (default `/run/vfioctl`): one small line-based file per entry,
/// written atomically (temporary file, then rename), so a crash never leaves half a record.
public struct StateDirectory: Sendable {
    public let path: FilePath

    public init(path: String) { self.path = FilePath(path) }

    /// Creates the directory (and its parents) if needed.
    public func create() throws(HostAccessError) { try FileTree.makeDirectories(path) }

    public func write(_ name: String, lines: [String]) throws(HostAccessError) {
        try FileTree.makeDirectories(path)
        let target = path.appending(name)
        let temporary = path.appending(".\(name).\(getpid()).tmp")
        try FileTree.writeText(temporary, lines.map { $0 + "\n" }.joined())
        guard rename(temporary.string, target.string) == 0 else {
            throw .system(Errno(rawValue: errno), "rename to", path: target.string)
        }
    }

    /// The file's lines; nil when there is no such entry.
    public func read(_ name: String) throws(HostAccessError) -> [String]? {
        try RootedFileSystem(root: path).readText(name).map { $0.split(separator: "\n").map(String.init) }
    }

    /// The functions a guest's registration (`domains/NAME`, written by the libvirt hook)
    /// names in its `device DDDD:BB:DD.F` lines; its other lines record what release undoes.
    /// Empty when the guest has no registration.
    public func registeredDevices(_ name: String) throws(HostAccessError) -> [PCIAddress] {
        (try read(name) ?? []).compactMap { line in
            line.hasPrefix("device ") ? PCIAddress(line.dropFirst("device ".count)) : nil
        }
    }

    public func remove(_ name: String) {
        _ = path.appending(name).withPlatformString { unlink($0) }
    }

    /// Entry names, without temporary files.
    public func list() throws(HostAccessError) -> [String] {
        (try RootedFileSystem(root: path).list(".") ?? []).filter { !$0.hasPrefix(".") }
    }
}
