import HostAccess
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// What a function had before vfioctl changed its driver: the driver and driver_override.
/// Journaled before the first write (`STATE/journal`), and kept after a successful bind
/// (`STATE/bindings/group-N`) so `restore` can give each function its driver back.
public struct PriorDriver: Sendable, Equatable {
    public var address: PCIAddress
    public var driver: String?
    public var override: String?

    public init(address: PCIAddress, driver: String?, override: String?) {
        self.address = address
        self.driver = driver
        self.override = override
    }

    /// `device ADDRESS DRIVER|- OVERRIDE|-`
    var line: String { "device \(address) \(driver ?? "-") \(override ?? "-")" }

    init?(line: String) {
        let parts = line.split(separator: " ")
        guard parts.count == 4, parts[0] == "device", let address = PCIAddress(parts[1]) else { return nil }
        self.address = address
        driver = parts[2] == "-" ? nil : String(parts[2])
        override = parts[3] == "-" ? nil : String(parts[3])
    }
}

/// vfioctl's state directory (default `/run/vfioctl`): the host lock, the journals of
/// actions in progress (`journals/`), and the records of completed bindings (`bindings/`).
public struct ActionState: Sendable {
    public let directory: String
    var bindings: StateDirectory { StateDirectory(path: directory + "/bindings") }

    public init(directory: String) { self.directory = directory }

    /// Where each action's journal lives while it runs.
    public var journalDirectory: FilePath { FilePath(directory).appending("journals") }
    /// `journalDirectory` as a string.
    public var journalDirectoryPath: String { journalDirectory.string }
    /// The one journal file of vfioctl 0.1, still read by `recover`.
    var legacyJournal: FilePath { FilePath(directory).appending("journal") }

    func saveBinding(group: Int, devices: [PriorDriver]) throws {
        try bindings.write("group-\(group)", lines: devices.map(\.line))
    }

    func binding(group: Int) throws -> [PriorDriver]? {
        try bindings.read("group-\(group)").map { $0.compactMap(PriorDriver.init(line:)) }
    }

    func removeBinding(group: Int) { bindings.remove("group-\(group)") }

    /// Removes `relative` (a validated state-file path) below the state directory.
    func removeFile(_ relative: String) {
        guard StateFileName.isValidRelativePath(relative) else { return }
        _ = FilePath(directory).appending(relative).withPlatformString { unlink($0) }
    }
}
