import HostAccess
import PCIModel

/// Paths of the checked-in fixtures (Tests/Fixtures), found from this file's location.
enum Fixtures {
    static let directory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Fixtures"
    }()

    /// A real lspci dump from pciutils' test suite (Tests/Fixtures/pciutils, see COPYING there).
    static func dump(_ name: String) -> String { directory + "/pciutils/" + name }

    static func model(dump name: String) throws -> HostModel {
        try LspciDumpReader(path: dump(name), keepConfigBytes: true).read()
    }
}
