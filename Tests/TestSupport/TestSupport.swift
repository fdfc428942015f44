import Analysis
import HostAccess
import PCIModel
import QuirkDB

// Shared by the test targets: where the fixtures are, small hand-built hosts, and helpers
// to change one function of a real host (near misses). Not part of any product.
/// Paths of the checked-in fixtures (Tests/Fixtures), found from this file's location.
public enum Fixtures {
    public static let directory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Fixtures"
    }()

    /// The bundled seed-host snapshot archive.
    public static var seedSnapshot: String { directory + "/snapshots/seed-host.tar.gz" }

    /// A real lspci dump from pciutils' test suite (Tests/Fixtures/pciutils, see COPYING there).
    public static func dump(_ name: String) -> String { directory + "/pciutils/" + name }

    public static func model(dump name: String) throws -> HostModel {
        try LspciDumpReader(path: dump(name), keepConfigBytes: true).read()
    }
}

/// Small hand-built hosts for rules the real dumps do not cover.
public enum Hosts {
    public static func device(
        _ address: String, _ builder: ConfigSpaceBuilder, driver: String? = nil, group: Int? = nil
    ) -> PCIDevice {
        PCIDevice(
            address: PCIAddress(address)!, config: DecodedConfig(ConfigSpace(builder.bytes)), driver: driver,
            iommuGroup: group)
    }

    /// A root port of a multifunction slot without ACS, ids 1234:5678 (no kernel quirk knows it):
    /// what a site's own isolation quirk is tested on.
    public static func unknownMultifunctionRootPort(secondary: UInt8) -> ConfigSpaceBuilder {
        var port = ConfigSpaceBuilder(
            vendorID: 0x1234, deviceID: 0x5678, classCode: 0x060400, headerType: 1, multifunction: true)
        port.setBuses(primary: 0, secondary: secondary, subordinate: secondary)
        port.addExpress(type: .rootPort, slot: true)
        return port
    }

    public static func rootPort(secondary: UInt8, acs: ACSFlags?) -> ConfigSpaceBuilder {
        var port = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x340a, classCode: 0x060400, headerType: 1)
        port.setBuses(primary: 0, secondary: secondary, subordinate: secondary)
        port.addExpress(type: .rootPort, slot: true)
        if let acs {
            port.addACS(
                capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding],
                control: acs)
        }
        return port
    }

    public static func endpoint(multifunction: Bool = false, flr: Bool = true, noSoftReset: Bool = true)
        -> ConfigSpaceBuilder
    {
        var nic = ConfigSpaceBuilder(
            vendorID: 0x8086, deviceID: 0x10d3, classCode: 0x020000, multifunction: multifunction)
        nic.addPowerManagement(noSoftReset: noSoftReset)
        nic.addExpress(type: .endpoint, flr: flr)
        return nic
    }

    public static func model(
        _ devices: [PCIDevice], kernelGroups: [Int: [PCIAddress]]? = nil, facts: HostFacts = HostFacts()
    )
        -> HostModel
    {
        var devices = devices
        HostModel.assignParentsFromBusRanges(&devices)
        return HostModel(source: "test", devices: devices, kernelGroups: kernelGroups, facts: facts)
    }
}

extension GroupPrediction {
    /// The predicted groups as sorted address strings, for readable expectations.
    public var described: Set<[String]> { Set(groups.map { $0.map(\.description) }) }

    public func members(of address: String) -> [String] {
        guard let id = group(of: PCIAddress(address)!) else { return [] }
        return groups[id].map(\.description)
    }
}

/// The bundled seed-host snapshot (Tests/Fixtures/snapshots/seed-host.tar.gz).
public enum SeedHost {
    public static func model() throws -> HostModel {
        let opened = try Snapshot.open(Fixtures.directory + "/snapshots/seed-host.tar.gz")
        return try withExtendedLifetime(opened) { try SysfsHostReader(roots: opened.roots).read(source: "seed") }
    }
}

extension HostModel {
    /// A copy with one function changed (a near miss of a real device).
    public func replacing(_ address: String, _ change: (inout PCIDevice) -> Void) -> HostModel {
        let devices = self.devices.map { device -> PCIDevice in
            var device = device
            if device.address.description == address { change(&device) }
            return device
        }
        var model = HostModel(source: source, devices: devices, kernelGroups: kernelGroups, facts: facts)
        model.groupTypes = groupTypes
        model.vfioGroupNodes = vfioGroupNodes
        return model
    }

    public func withFacts(_ change: (inout HostFacts) -> Void) -> HostModel {
        var facts = self.facts
        change(&facts)
        var model = HostModel(source: source, devices: devices, kernelGroups: kernelGroups, facts: facts)
        model.groupTypes = groupTypes
        model.vfioGroupNodes = vfioGroupNodes
        return model
    }
}

extension QuirkDatabase {
    /// Ids of the quirks matching the function at `address`.
    public func ids(at address: String, in model: HostModel, guest: GuestContext? = nil) -> [String] {
        guard let device = model[PCIAddress(address)!] else { return [] }
        let policy = ACSPolicy(quirk: acsQuirk(for: model))
        return matches(for: device, in: model, policy: policy, guest: guest).map(\.quirk.id)
    }
}

/// Quirk files for tests that need a site's own entry in `etc/vfioctl/quirks.d`.
public enum TestQuirks {
    /// A site's warning about the NVMe model of QEMU (1b36:0010), as a fleet's hosts may
    /// carry on some machines only.
    public static let qemuNVMeNote = """
        [[quirk]]
        id = "site-qemu-nvme-note"
        title = "Site note: this NVMe model needs the vendor firmware"
        effect = "warn"
        advice = "Update the drive firmware before assigning it."
        references = ["site runbook"]

        [quirk.match]
        vendor = 0x1b36
        device = 0x0010

        """

    /// An isolation quirk (the function provides SV RR CR UF) for vendor:device, optionally
    /// only on some kernels (`kernel = ">= 5.10"`).
    public static func isolation(
        id: String, title: String, vendor: UInt16, device: UInt16, kernel: String? = nil, reference: String = "test"
    ) -> String {
        var text = """
            [[quirk]]
            id = "\(id)"
            title = "\(title)"
            effect = "isolation"
            isolation = { provides = ["SV", "RR", "CR", "UF"] }
            references = ["\(reference)"]

            [quirk.match]
            vendor = 0x\(hex(vendor, width: 4))
            device = 0x\(hex(device, width: 4))

            """
        if let kernel { text += "\n[quirk.match.host]\nkernel = \"\(kernel)\"\n" }
        return text
    }
}
