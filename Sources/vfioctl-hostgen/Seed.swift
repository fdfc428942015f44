import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

/// The host of seed 000: two dual-port 82576 (8086:10c9) behind an IDT PES12N3A switch
/// (111d:8018 rev 0c) on X58 root port 3 (8086:340a).
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the seed host: 2x 82576 behind an IDT PES12N3A on X58 root port 3.")

    @Option(help: "Directory holding the pciutils dumps (tree-asus-p6t6, cap-pcie-2).")
    var dumps: String

    @OptionGroup var output: OutputDirectory

    @Flag(help: "Pack the tree as a snapshot .tar.gz at OUTPUT.tar.gz as well.")
    var archive = false

    func run() async throws {
        let destination = try output.prepare()
        let x58 = try LspciDumpReader(path: dumps + "/tree-asus-p6t6", keepConfigBytes: true).read()
        let nic = try LspciDumpReader(path: dumps + "/cap-pcie-2", keepConfigBytes: true).read()
        guard let hostBridge = x58.configBytes[PCIAddress(bus: 0, device: 0, function: 0)],
            let rootPort3 = x58.configBytes[PCIAddress(bus: 0, device: 3, function: 0)],
            let kawela = nic.configBytes[PCIAddress(bus: 1, device: 0, function: 0)]
        else {
            throw ValidationError("\(dumps) lacks tree-asus-p6t6 00:00.0/00:03.0 or cap-pcie-2 01:00.0")
        }
        // Real bytes: X58 root port 3 as dumped (secondary bus 02, subordinate 05; ACS
        // capability SV TB RR CR UF, control 0: that kernel had not enabled ACS).
        var bytes: [PCIAddress: [UInt8]] = [
            PCIAddress(bus: 0, device: 0, function: 0): hostBridge,
            PCIAddress(bus: 0, device: 3, function: 0): rootPort3,
        ]
        bytes[PCIAddress(bus: 2, device: 0, function: 0)] = Self.idtPort(type: .upstreamPort, buses: (2, 3, 5))
        bytes[PCIAddress(bus: 3, device: 2, function: 0)] = Self.idtPort(type: .downstreamPort, buses: (3, 4, 4))
        bytes[PCIAddress(bus: 3, device: 4, function: 0)] = Self.idtPort(type: .downstreamPort, buses: (3, 5, 5))
        // Real bytes of an 82576 PF; SR-IOV is switched off (VF Enable and NumVFs cleared) as
        // before the seed's `max_vfs` reload, since the tree has no VF functions.
        var pf = kawela
        let sriov = 0x160
        pf[sriov + 0x08] &= ~0x09
        pf[sriov + 0x10] = 0
        pf[sriov + 0x11] = 0
        for bus: UInt8 in [4, 5] {
            for function: UInt8 in [0, 1] { bytes[PCIAddress(bus: bus, device: 0, function: function)] = pf }
        }
        var devices: [PCIDevice] = []
        for (address, config) in bytes {
            let decoded = DecodedConfig(ConfigSpace(config))
            let driver: String? =
                decoded.isBridge ? "pcieport" : (decoded.vendorID == 0x8086 && decoded.deviceID == 0x10c9 ? "igb" : nil)
            devices.append(PCIDevice(address: address, config: decoded, driver: driver, numaNode: 0))
        }
        HostModel.assignParentsFromBusRanges(&devices)
        let facts = HostFacts(
            kernelCommandLine: "ro root=/dev/mapper/vg_seed-lv_root intel_iommu=on",
            // cap/ecap as public dmesg logs of Nehalem/Westmere 5520-class hosts show them
            // ("DMAR: dmar0: reg_base_addr fbffe000 ver 1:0 cap c90780106f0462 ecap f020fe"):
            // 48-bit MGAW, no superpages, interrupt remapping (ecap bit 3). One unit for all
            // devices (DRHD INCLUDE_PCI_ALL).
            iommuUnits: [
                IOMMUUnit(
                    name: "dmar0", kind: .intel, capability: 0xc9_0780_106f_0462, extendedCapability: 0xf0_20fe,
                    devices: bytes.keys.sorted())
            ],
            acpiDMARTable: true, vfioPCIAvailability: .loaded)
        // No kernel/iommu_groups: this host is built from dumps, not captured from a running
        // kernel, so it cannot say which groups a kernel formed. vfioctl predicts them.
        let model = HostModel(
            source: "seed host", devices: devices, kernelGroups: nil, facts: facts, configBytes: bytes)
        try SysfsTreeWriter(base: destination).write(model)
        try Snapshot.writeManifest(
            in: destination, tool: "vfioctl-hostgen", origin: "seed 000 host built from pciutils dumps",
            devices: devices.count)
        if archive { try Snapshot.archive(destination, to: output.output + ".tar.gz") }
        print("wrote \(output.output): \(devices.count) functions")
    }

    /// An IDT PES12N3A (111d:8018, revision 0c) switch port, PCIe 1.1: built from the register
    /// layout of IDT's PES12N3A user manual (PCI Express capability, power management and MSI
    /// in the first 256 bytes; AER first in extended space), not from a dump, since none is
    /// public. The part predates ACS: it has no ACS capability, which is what matters here.
    static func idtPort(type: PCIExpressCapability.PortType, buses: (UInt8, UInt8, UInt8)) -> [UInt8] {
        var builder = ConfigSpaceBuilder(
            vendorID: 0x111d, deviceID: 0x8018, classCode: 0x060400, revision: 0x0c, headerType: 1)
        builder.setBuses(primary: buses.0, secondary: buses.1, subordinate: buses.2)
        builder.addExpress(type: type, slot: type == .downstreamPort, version: 1)
        builder.addPowerManagement(noSoftReset: false)
        builder.addMSI()
        builder.addAER()
        return builder.bytes
    }
}
