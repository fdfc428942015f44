import Foundation
import TestSupport
import Testing

/// The text report as a user reads it: summary first, details only for what is not plainly
/// assignable, advice said once.
@Suite("inspect text: summary first, calmer details")
struct InspectTextCLITests {
    @Test("the seed host: summary within 30 lines naming every group, 100 columns, each quirk's advice once")
    func seedSummary() throws {
        // Run as the README's demo does, from the checkout with a relative path: a source path is
        // one word, and a word longer than the width cannot be wrapped.
        let root = String(Fixtures.directory.dropLast("/Tests/Fixtures".count))
        let result = try Tool.vfioctl(
            ["inspect", "--snapshot", "Tests/Fixtures/snapshots/seed-host.tar.gz"], workingDirectory: root)
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        let details = try #require(lines.firstIndex { $0.hasPrefix("Details") })
        #expect(details <= 30, "summary is \(details) lines")
        let summary = lines[..<details].joined(separator: "\n")
        #expect(summary.contains("p0 ") && summary.contains("p1 "))
        #expect(summary.contains("0000:04:00.0 0000:04:00.1 0000:05:00.0 0000:05:00.1 (+4 bridges)"))
        #expect(lines.allSatisfy { $0.count <= 100 }, "\(lines.filter { $0.count > 100 })")
        // Not a terminal: no escape codes.
        #expect(!result.standardOutput.contains("\u{1b}"))
        // The IDT switch's advice (a quirk of the bridges above the NICs) is printed once.
        let idt = result.standardOutput.components(separatedBy: "* quirk idt-pes-switch-no-acs").count - 1
        #expect(idt == 1)
        // Bridges stay with the host: no detail block of their own.
        #expect(!result.standardOutput.contains("  0000:03:02.0  111d:8018"))
    }

    @Test("an address asked for gets its details even when assignable; the groups shown are its own")
    func selected() throws {
        let result = try Tool.vfioctl(["inspect", "--snapshot", Fixtures.seedSnapshot, "0000:00:03.0"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("  0000:00:03.0  8086:340a"))
        #expect(!result.standardOutput.contains("  p0 "))
    }
}
