import Foundation

/// Lists `*.toml` files of a directory, sorted, so the embedded order is stable.
enum FileManagerShim {
    static func tomlFiles(in directory: URL) throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path())
        return names.filter { $0.hasSuffix(".toml") }.sorted().map { directory.appending(path: $0) }
    }
}
