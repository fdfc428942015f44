import Analysis
import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

/// A large synthetic host for benchmarks: segments of root ports, each with a switch whose
/// downstream ports hold SR-IOV PFs with VFs and two-function devices; ACS on some paths
/// and not on others; full 4 KiB config spaces.
struct Synthetic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic host with N functions (benchmark input).")

    @Option(help: "How many PCI functions to generate.")
    var functions = 4096

    @OptionGroup var output: OutputDirectory

    func run() async throws {
        let destination = try output.prepare()
        var generator = SyntheticHost(target: functions)
        generator.build()
        var devices = generator.devices
        HostModel.assignParentsFromBusRanges(&devices)
        var model = HostModel(
            source: "synthetic", devices: devices, kernelGroups: [:],
            facts: HostFacts(kernelCommandLine: "intel_iommu=on"),
            configBytes: generator.bytes)
        // Benchmark data, not a kernel reading: the iommu_group links are vfioctl's own
        // prediction, so the reader has the same links to follow as on a real host.
        let prediction = GroupPrediction(model: model)
        var grouped = model.devices
        for i in grouped.indices { grouped[i].iommuGroup = prediction.group(of: grouped[i].address) }
        var groups: [Int: [PCIAddress]] = [:]
        for device in grouped { if let g = device.iommuGroup { groups[g, default: []].append(device.address) } }
        model = HostModel(
            source: "synthetic", devices: grouped, kernelGroups: groups, facts: model.facts,
            configBytes: generator.bytes)
        try SysfsTreeWriter(base: destination).write(model)
        try Snapshot.writeManifest(
            in: destination, tool: "vfioctl-hostgen", origin: "synthetic", devices: devices.count)
        print("wrote \(output.output): \(devices.count) functions, \(groups.count) groups")
    }
}

/// Builds the synthetic topology function by function until `target` is reached.
struct SyntheticHost {
    let target: Int
    var devices: [PCIDevice] = []
    var bytes: [PCIAddress: [UInt8]] = [:]

    init(target: Int) { self.target = target }

    private var full: Bool { devices.count >= target }

    private mutating func add(
        _ address: PCIAddress, _ builder: ConfigSpaceBuilder, driver: String?, vfOf pf: PCIAddress? = nil,
        ids: (UInt16, UInt16)? = nil
    ) {
        guard !full else { return }
        let config = DecodedConfig(ConfigSpace(builder.bytes))
        devices.append(
            PCIDevice(
                address: address, config: config, vendorID: ids?.0, deviceID: ids?.1, driver: driver,
                numaNode: Int(address.domain % 2), physicalFunction: pf))
        bytes[address] = builder.bytes
    }

    mutating func build() {
        var unit = 0
        var domain: UInt32 = 0
        while !full {
            let slot = UInt8(unit % 30 + 1)
            if unit > 0 && unit % 30 == 0 { domain += 1 }
            let firstBus = UInt8((unit % 30) * 6 + 1)
            addUnit(domain: domain, slot: slot, firstBus: firstBus, pattern: unit % 3)
            unit += 1
        }
    }

    /// Root port → switch (upstream + 4 downstream) → 3 SR-IOV PFs with 7 VFs each and one
    /// two-function device: 32 functions. `pattern` 0: ACS everywhere; 1: root port only;
    /// 2: no ACS at all.
    private mutating func addUnit(domain: UInt32, slot: UInt8, firstBus: UInt8, pattern: Int) {
        let acsFlags: ACSFlags = [
            .sourceValidation, .translationBlocking, .requestRedirect, .completionRedirect, .upstreamForwarding,
        ]
        var root = ConfigSpaceBuilder(
            vendorID: 0x8086, deviceID: 0x340a, classCode: 0x060400, revision: 0x22, headerType: 1)
        root.setBuses(primary: 0, secondary: firstBus, subordinate: firstBus + 5)
        root.addExpress(type: .rootPort, slot: true)
        root.addPowerManagement(noSoftReset: false)
        root.addMSI()
        root.addAER()
        if pattern != 2 { root.addACS(capability: acsFlags, control: .requiredForIsolation) }
        add(PCIAddress(domain: domain, bus: 0, device: slot, function: 0), root, driver: "pcieport")

        var up = ConfigSpaceBuilder(
            vendorID: 0x10b5, deviceID: 0x8747, classCode: 0x060400, revision: 0xca, headerType: 1)
        up.setBuses(primary: firstBus, secondary: firstBus + 1, subordinate: firstBus + 5)
        up.addExpress(type: .upstreamPort)
        up.addAER()
        add(PCIAddress(domain: domain, bus: firstBus, device: 0, function: 0), up, driver: "pcieport")

        for port in 0..<4 {
            let bus = firstBus + 2 + UInt8(port)
            var down = ConfigSpaceBuilder(
                vendorID: 0x10b5, deviceID: 0x8747, classCode: 0x060400, revision: 0xca, headerType: 1)
            down.setBuses(primary: firstBus + 1, secondary: bus, subordinate: bus)
            down.addExpress(type: .downstreamPort, slot: true)
            down.addAER()
            if pattern == 0 { down.addACS(capability: acsFlags, control: .requiredForIsolation) }
            add(
                PCIAddress(domain: domain, bus: firstBus + 1, device: UInt8(port * 8), function: 0), down,
                driver: "pcieport")
            if port < 3 {
                addSRIOVFunction(domain: domain, bus: bus)
            } else {
                for function: UInt8 in 0..<2 {
                    var nic = ConfigSpaceBuilder(
                        vendorID: 0x8086, deviceID: 0x105e, classCode: 0x020000, revision: 0x06, multifunction: true)
                    nic.setSubsystem(vendorID: 0x8086, id: 0x125e)
                    nic.addPowerManagement(noSoftReset: false)
                    nic.addMSI()
                    nic.addExpress(type: .endpoint)
                    nic.addAER()
                    add(PCIAddress(domain: domain, bus: bus, device: 0, function: function), nic, driver: "e1000e")
                }
            }
        }
    }

    /// An 82576-like PF (FLR, SR-IOV with 7 VFs at offset 1, stride 1) and its VFs.
    private mutating func addSRIOVFunction(domain: UInt32, bus: UInt8) {
        let pfAddress = PCIAddress(domain: domain, bus: bus, device: 0, function: 0)
        var pf = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x10c9, classCode: 0x020000, revision: 0x01)
        pf.setSubsystem(vendorID: 0x8086, id: 0xa03c)
        pf.addPowerManagement(noSoftReset: false)
        pf.addMSI()
        pf.addMSIX(tableSize: 10)
        pf.addExpress(type: .endpoint, flr: true)
        pf.addAER()
        pf.addARI(nextFunction: 0)
        pf.addSRIOV(totalVFs: 7, numVFs: 7, firstVFOffset: 1, vfStride: 1, vfDeviceID: 0x10ca)
        add(pfAddress, pf, driver: "igb")
        for vf in 1...7 {
            // A VF's Vendor and Device ID registers read 0xffff; sysfs reports the real ids.
            var config = ConfigSpaceBuilder(vendorID: 0xffff, deviceID: 0xffff, classCode: 0x020000, revision: 0x01)
            config.addMSIX(tableSize: 3)
            config.addExpress(type: .endpoint, flr: true)
            config.addAER()
            config.addARI(nextFunction: 0)
            add(
                PCIAddress(domain: domain, bus: bus, device: 0, function: UInt8(vf)), config, driver: "igbvf",
                vfOf: pfAddress,
                ids: (0x8086, 0x10ca))
        }
    }
}
