import Actions
import ArgumentParser
import HostAccess
import Logging
import PCIModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where actions act and keep their journal: the live host and /run/vfioctl, or a tree.
struct ActionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A directory holding sys/, proc/ and dev/ to act on instead of the live host.", valueName: "dir"))
    var root: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp("Journal and records (default /run/vfioctl, or ROOT/run/vfioctl).", valueName: "dir"))
    var stateDirectory: String?

    @Flag(name: .customLong("dry-run"), help: "Print the exact writes, in order, and change nothing.")
    var dryRun = false

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "trace, debug, info, notice, warning, error or critical; debug shows every host write with its path and value (on stderr).",
            valueName: "level"),
        transform: { text in
            guard let level = Logger.Level(rawValue: text) else {
                throw ValidationError("--log-level takes trace, debug, info, notice, warning, error or critical")
            }
            return level
        })
    var logLevel: Logger.Level = .warning

    var roots: HostRoots { root.map { HostRoots(path: $0) } ?? .live }

    var state: ActionState {
        ActionState(directory: stateDirectory ?? (root.map { absolutePath($0) + "/run/vfioctl" } ?? "/run/vfioctl"))
    }

    /// A host session for `action` (in words): the lock, the journal, the writer.
    func session(_ action: String) throws -> HostSession {
        StandardErrorLogging.start(level: logLevel)
        return try HostSession(roots: roots, state: state, action: action, dryRun: dryRun)
    }
}

/// What a dry run prints: the session's notes (`modprobe …`) and writes, in order.
func printDryRun(_ session: HostSession) {
    for note in session.notes { print(note) }
    for write in session.writer.writes { print(write.description) }
}

/// `ADDRESS` or `group:N`, resolved to a group number on the host.
func groupNumber(for target: String, in model: HostModel) throws -> Int {
    let address: PCIAddress
    switch DeviceTarget(target) {
    case .group(let number): return number
    case .function(let named): address = named
    case nil: throw CLIError(DeviceTarget.problem(with: target))
    }
    guard let device = model[address] else {
        throw CLIError("no PCI function \(address) in \(model.source); `vfioctl inspect` lists them all")
    }
    guard let group = device.iommuGroup else {
        throw CLIError("\(address) is in no IOMMU group: the IOMMU is off or does not cover it (see `vfioctl inspect`)")
    }
    return group
}

/// swift-log to stderr at the chosen level, bootstrapped once per process.
enum StandardErrorLogging {
    private static let started = Mutex(false)

    static func start(level: Logger.Level) {
        started.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
