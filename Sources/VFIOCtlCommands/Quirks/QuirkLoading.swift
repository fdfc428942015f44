import Analysis
import HostAccess
import PCIModel
import QuirkDB
import SystemPackage

/// Where local quirk files live, relative to the host root.
let localQuirkDirectory = "etc/vfioctl/quirks.d"

/// Reads `*.toml` files of a directory (sorted) through the host-access layer.
func readQuirkFiles(in directory: RootedFileSystem, displayPrefix: String) throws -> [(name: String, text: String)] {
    guard let names = try directory.list(".") else { return [] }
    var files: [(name: String, text: String)] = []
    for name in names where name.hasSuffix(".toml") {
        files.append(
            (displayPrefix + name, try directory.readText(name, limit: InputLimits.configurationFileBytes) ?? ""))
    }
    return files
}

/// The bundled database extended by the host's `/etc/vfioctl/quirks.d` (under `base`).
func loadQuirkDatabase(base: HostRoots) throws -> QuirkDatabase {
    let bundled = try QuirkDatabase.bundled()
    let directory = RootedFileSystem(root: try base.top.resolve(localQuirkDirectory))
    let local = try QuirkDatabase.parse(try readQuirkFiles(in: directory, displayPrefix: directory.root.string + "/"))
    return bundled.extended(with: local)
}

/// Everything inspect needs from the quirk database for one model.
struct QuirkEvaluation: Sendable {
    let policy: ACSPolicy
    let matches: [PCIAddress: [QuirkMatch]]

    init(database: QuirkDatabase, model: HostModel) {
        policy = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        let policy = self.policy
        let found = model.devices.parallelMap { device in
            (device.address, database.matches(for: device, in: model, policy: policy))
        }
        self.matches = Dictionary(found.filter { !$0.1.isEmpty }, uniquingKeysWith: { first, _ in first })
    }

    /// Quirks that lower the verdict, as reasons: unconditional `block` and `warn`. Every
    /// match, these included, is also listed with its advice (`quirks` in JSON, `* quirk`
    /// lines in text); advice, isolation, sequences and guest-dependent entries only there.
    func reasons(for device: PCIDevice) -> [Reason] {
        (matches[device.address] ?? []).compactMap { match in
            guard !match.dependsOnGuest else { return nil }
            let quirk = match.quirk
            let severity: Verdict
            switch quirk.effect {
            case .block: severity = .blocked
            case .warn: severity = .caveats
            default: return nil
            }
            return Reason(.quirk, severity, "[\(quirk.id)] \(quirk.title)", related: [quirk.id])
        }
    }
}
