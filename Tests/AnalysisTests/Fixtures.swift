import Analysis
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

/// Small hand-built hosts for rules the real dumps do not cover.
enum Hosts {
    static func device(
        _ address: String, _ builder: ConfigSpaceBuilder, driver: String? = nil, group: Int? = nil
    ) -> PCIDevice {
        PCIDevice(
            address: PCIAddress(address)!, config: DecodedConfig(ConfigSpace(builder.bytes)), driver: driver, iommuGroup: group)
    }

    static func rootPort(secondary: UInt8, acs: ACSFlags?) -> ConfigSpaceBuilder {
        var port = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x340a, classCode: 0x060400, headerType: 1)
        port.setBuses(primary: 0, secondary: secondary, subordinate: secondary)
        port.addExpress(type: .rootPort, slot: true)
        if let acs { port.addACS(capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding], control: acs) }
        return port
    }

    static func endpoint(multifunction: Bool = false, flr: Bool = true, noSoftReset: Bool = true) -> ConfigSpaceBuilder {
        var nic = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x10d3, classCode: 0x020000, multifunction: multifunction)
        nic.addPowerManagement(noSoftReset: noSoftReset)
        nic.addExpress(type: .endpoint, flr: flr)
        return nic
    }

    static func model(_ devices: [PCIDevice], kernelGroups: [Int: [PCIAddress]]? = nil, facts: HostFacts = HostFacts())
        -> HostModel
    {
        var devices = devices
        HostModel.assignParentsFromBusRanges(&devices)
        return HostModel(source: "test", devices: devices, kernelGroups: kernelGroups, facts: facts)
    }
}

extension GroupPrediction {
    /// The predicted groups as sorted address strings, for readable expectations.
    var described: Set<[String]> { Set(groups.map { $0.map(\.description) }) }

    func members(of address: String) -> [String] {
        guard let id = group(of: PCIAddress(address)!) else { return [] }
        return groups[id].map(\.description)
    }
}
