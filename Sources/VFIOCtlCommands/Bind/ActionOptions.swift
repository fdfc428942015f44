import Actions
import ArgumentParser
import HostAccess
import PCIModel

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

    var roots: HostRoots { root.map { HostRoots(path: $0) } ?? .live }

    var state: ActionState {
        ActionState(directory: stateDirectory ?? (root.map { absolutePath($0) + "/run/vfioctl" } ?? "/run/vfioctl"))
    }
}

/// `ADDRESS` or `group:N`, resolved to a group number on the host.
func groupNumber(for target: String, in model: HostModel) throws -> Int {
    if target.hasPrefix("group:") {
        guard let number = Int(target.dropFirst("group:".count)), number >= 0 else {
            throw CLIError("\(target): expected group:N with N a number")
        }
        return number
    }
    guard let address = PCIAddress(target) else { throw CLIError("\(target) is neither DDDD:BB:DD.F nor group:N") }
    guard let device = model[address] else {
        throw CLIError("no PCI function \(address) in \(model.source); `vfioctl inspect` lists them all")
    }
    guard let group = device.iommuGroup else {
        throw CLIError("\(address) is in no IOMMU group: the IOMMU is off or does not cover it (see `vfioctl inspect`)")
    }
    return group
}

/// Crash tests only: VFIOCTL_TEST_STOP_AFTER_WRITES=K makes an action die after K writes.
var crashTestWriteLimit: Int? {
    guard let text = getenv("VFIOCTL_TEST_STOP_AFTER_WRITES") else { return nil }
    return Int(String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self))
}
