import Foundation
import TestSupport
import Testing

/// Progress on long waits: on a terminal only (util-linux `script` gives the command a pty),
/// never when standard error is a pipe or with --json.
@Suite("Progress lines on a terminal only")
struct ProgressCLITests {
    @Test("snapshot create shows what it is doing on a terminal and nothing in a pipe")
    func snapshotProgress() throws {
        let directory = try Tool.temporaryDirectory()
        let unpack = try Tool.run("/bin/tar", ["xzf", Fixtures.seedSnapshot, "-C", directory])
        #expect(unpack.status == 0)
        let onTerminal = try Tool.run(
            "/usr/bin/script",
            [
                "-qec", "\(Tool.buildDirectory)/vfioctl snapshot create --root \(directory) -o \(directory)/a.tar.gz",
                "/dev/null",
            ])
        #expect(onTerminal.status == 0, "\(onTerminal.standardError)")
        #expect(onTerminal.standardOutput.contains("capturing root \(directory)'s PCI functions"))
        #expect(onTerminal.standardOutput.contains("\r\u{1b}[K"))
        let piped = try Tool.vfioctl(["snapshot", "create", "--root", directory, "-o", directory + "/b.tar.gz"])
        #expect(piped.status == 0)
        #expect(!piped.standardError.contains("capturing") && !piped.standardOutput.contains("\u{1b}"))
    }
}
