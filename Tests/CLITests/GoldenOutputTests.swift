import Foundation
import TestSupport
import Testing

/// What vfioctl prints for every fixture, byte for byte, against Tests/Fixtures/golden (written
/// by its regenerate.sh): a refactoring that changes any JSON a script relies on fails here.
@Suite("JSON output of every fixture, byte for byte")
struct GoldenOutputTests {
    static let snapshots: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/snapshots")) ?? []
        return names.filter { $0.hasSuffix(".tar.gz") }.map { String($0.dropLast(".tar.gz".count)) }.sorted()
    }()

    @Test("the golden files cover every snapshot, and nothing else")
    func coverage() throws {
        for command in ["inspect", "iommu"] {
            let golden = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory + "/golden/\(command)")
            #expect(golden.sorted() == Self.snapshots.map { $0 + ".json" }, "\(command)")
        }
        #expect(Self.snapshots.count >= 30)
    }

    @Test("inspect --json and iommu --json equal the golden output", arguments: ["inspect", "iommu"])
    func output(_ command: String) throws {
        // The golden files were written from the repository root with relative paths.
        let root = String(Fixtures.directory.dropLast("/Tests/Fixtures".count))
        var differing: [String] = []
        for name in Self.snapshots {
            let result = try Tool.vfioctl(
                [command, "--json", "--snapshot", "Tests/Fixtures/snapshots/\(name).tar.gz"], workingDirectory: root)
            #expect(result.status == 0, "\(command) \(name): \(result.standardError)")
            let golden = try String(
                contentsOfFile: Fixtures.directory + "/golden/\(command)/\(name).json", encoding: .utf8)
            if result.standardOutput != golden { differing.append(name) }
        }
        #expect(
            differing.isEmpty,
            "\(command) --json differs for \(differing.joined(separator: ", ")): compare with Tests/Fixtures/golden/regenerate.sh's output"
        )
    }
}
