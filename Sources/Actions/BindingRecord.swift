import HostAccess
import PCIModel

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

/// The journal of an action in progress and the records of completed bindings.
public struct ActionState: Sendable {
    public let directory: String
    var journal: StateDirectory { StateDirectory(path: directory) }
    var bindings: StateDirectory { StateDirectory(path: directory + "/bindings") }

    public init(directory: String) { self.directory = directory }

    func writeJournal(action: String, devices: [PriorDriver], extra: [String] = []) throws {
        try journal.write("journal", lines: ["action \(action)"] + extra + devices.map(\.line))
    }

    /// The journal an interrupted action left: its action line, devices and extra lines.
    public func readJournal() throws -> (action: String, devices: [PriorDriver], lines: [String])? {
        guard let lines = try journal.read("journal"), let first = lines.first, first.hasPrefix("action ") else {
            return nil
        }
        return (String(first.dropFirst("action ".count)), lines.compactMap(PriorDriver.init(line:)), lines)
    }

    func clearJournal() { journal.remove("journal") }

    func saveBinding(group: Int, devices: [PriorDriver]) throws {
        try bindings.write("group-\(group)", lines: devices.map(\.line))
    }

    func binding(group: Int) throws -> [PriorDriver]? {
        try bindings.read("group-\(group)").map { $0.compactMap(PriorDriver.init(line:)) }
    }

    func removeBinding(group: Int) { bindings.remove("group-\(group)") }
}
