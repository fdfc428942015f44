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

extension SourceOptions {
    /// The source's host, judged with the quirk database of where it came from (a snapshot's
    /// own quirk files, the root's, this host's), in a report that assesses nothing up front:
    /// for commands that assess only the functions they print (`xml`, `kubevirt`). Keep the
    /// snapshot alive while the model is used.
    func unassessedReport() throws -> (report: InspectReport, quirks: QuirkEvaluation, snapshot: OpenedSnapshot?) {
        let (model, snapshot) = try load()
        let database = try loadQuirkDatabase(base: quirkBase(snapshot: snapshot))
        let quirks = QuirkEvaluation(database: database, model: model)
        let report = InspectReport(
            model: model, policy: quirks.policy, additionalReasons: quirks.reasons, assessing: [])
        return (report, quirks, snapshot)
    }
}
