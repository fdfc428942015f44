import Actions
import Foundation
import TestSupport
import VFIOCtlCommands

// vfioctl-faultrun: the real `vfioctl` command line with a TEST DOUBLE of the Linux PCI core
// (TestSupport's KernelModel) installed for the tree named by VFIOCTL_FAULT_TREE, because a
// tree on disk has files but no kernel to react to writes. The fault-injection harness
// (Tests/CLITests/FaultInjectionTests.swift) runs every mutating action through it with
// VFIOCTL_TEST_STOP_AFTER_WRITES=K, so the action dies by SIGKILL after write K, then runs
// `recover` through it. Not installed, not part of any product.

let arguments = Array(CommandLine.arguments.dropFirst())
// `swift package generate-manual` (make man) asks every executable product for its help as
// JSON; without a tree there is no kernel to model, but the command line is vfioctl's.
if arguments == ["--experimental-dump-help"] {
    await VFIOCtl.run(arguments: arguments)
}
guard let tree = ProcessInfo.processInfo.environment["VFIOCTL_FAULT_TREE"] else {
    FileHandle.standardError.write(Data("vfioctl-faultrun: set VFIOCTL_FAULT_TREE to the tree's root\n".utf8))
    exit(2)
}
let kernel: KernelModel
do {
    kernel = try KernelModel(root: tree)
} catch {
    FileHandle.standardError.write(Data("vfioctl-faultrun: \(tree): \(error)\n".utf8))
    exit(2)
}
HostSession.useKernel(kernel)
await VFIOCtl.run(arguments: arguments)
