import Analysis
import PCIModel
import QuirkDB
import TestSupport
import Testing

/// The transcription of the kernel's pci_dev_acs_enabled[] (Quirks/kernel-acs.toml).
@Suite("Kernel ACS quirks")
struct KernelACSQuirkTests {
    let database: QuirkDatabase

    init() throws { database = try QuirkDatabase.bundled() }

    private func answer(_ device: PCIDevice, _ model: HostModel) -> (id: String, enabled: Bool)? {
        database.acsQuirk(for: model)(device, .requiredForIsolation)
    }

    /// A function built from a quirk's own criteria (first id, first port type, …).
    private func device(matching quirk: Quirk, vendor: UInt16? = nil, deviceID: UInt16? = nil) -> PCIDevice {
        let m = quirk.match
        let type = m.portTypes?.first ?? .endpoint
        let isBridge = type == .rootPort || type == .downstreamPort || type == .upstreamPort
        var builder = ConfigSpaceBuilder(
            vendorID: vendor ?? UInt16(m.vendor?.ranges.first?.lowerBound ?? 0x8086),
            deviceID: deviceID ?? UInt16(m.device?.ranges.first?.lowerBound ?? 0x1234),
            classCode: isBridge ? 0x060400 : 0x020000, headerType: isBridge ? 1 : 0,
            multifunction: m.multifunction ?? false)
        builder.addExpress(type: type)
        if case .isolation(let rule) = quirk.effect, rule.controlOffset != nil {
            let offset = builder.addACS(
                capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding], control: []
            )
            builder.set32(offset + 8, UInt32(ACSFlags.requiredForIsolation.rawValue))
        } else if m.capabilities?.contains("acs") == true {
            builder.addACS(
                capability: [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding], control: []
            )
        }
        return PCIDevice(address: PCIAddress("00:1c.0")!, config: DecodedConfig(ConfigSpace(builder.bytes)))
    }

    @Test("every isolation entry answers for a device built from its criteria, and not for the next vendor")
    func everyEntry() throws {
        let isolation = database.quirks.filter { if case .isolation = $0.effect { true } else { false } }
        // 31, with the Intel PCH root-port entry split by kernel release into 3 (5.9 regression).
        #expect(isolation.count == 33)
        for quirk in isolation {
            // A kernel-scoped entry is tried on a release it covers (the others then do not answer).
            var facts = HostFacts(acpiIVRSTable: true)
            if let constraint = quirk.host?.kernel {
                let releases = ["2.6", "5.8", "5.9", "5.10", "6.1", "6.12"]
                facts.kernelRelease = releases.first { constraint.isSatisfied(by: KernelVersion(release: $0)!) }
                #expect(facts.kernelRelease != nil, "\(quirk.id): no test release satisfies \(constraint)")
            }
            let device = device(matching: quirk)
            let model = HostModel(source: "t", devices: [device], kernelGroups: nil, facts: facts)
            let got = answer(device, model)
            #expect(got?.id == quirk.id, "\(quirk.id) at \(quirk.source) answered by \(got?.id ?? "nothing")")
            let otherVendor = self.device(
                matching: quirk, vendor: UInt16(quirk.match.vendor!.ranges[0].lowerBound) &+ 1)
            #expect(answer(otherVendor, model)?.id != quirk.id, "\(quirk.id) also answers for another vendor")
        }
    }

    @Test("82576 functions count as isolated (pci_quirk_mf_endpoint_acs); 8086:10ca VFs do not match")
    func kawela() throws {
        let model = try Fixtures.model(dump: "cap-pcie-2")
        let pf = try #require(model.devices.first)
        #expect(answer(pf, model)?.id == "kernel-acs-intel-82576")
        #expect(answer(pf, model)?.enabled == true)
        var vf = pf
        vf.deviceID = 0x10ca
        #expect(answer(vf, model) == nil)
    }

    @Test("Intel PCH root port 1c10: isolated while the IOMMU is on, not when it is off, never as an endpoint")
    func pchRootPort() {
        let quirk = database.quirk(id: "kernel-acs-intel-pch-root-ports")!
        let port = device(matching: quirk, deviceID: 0x1c10)
        let on = HostModel(source: "t", devices: [port], kernelGroups: [1: [port.address]], facts: HostFacts())
        #expect(answer(port, on)?.enabled == true)
        let off = HostModel(source: "t", devices: [port], kernelGroups: [:], facts: HostFacts())
        #expect(answer(port, off) == nil)
        var endpoint = ConfigSpaceBuilder(vendorID: 0x8086, deviceID: 0x1c10, classCode: 0x020000)
        endpoint.addExpress(type: .endpoint)
        let asEndpoint = PCIDevice(address: port.address, config: DecodedConfig(ConfigSpace(endpoint.bytes)))
        #expect(answer(asEndpoint, on)?.id != "kernel-acs-intel-pch-root-ports")
        // ICH10 (3a40, tree-asus-p6t6) is not in the kernel's list.
        let ich10 = device(matching: quirk, deviceID: 0x3a40)
        #expect(answer(ich10, on) == nil)
    }

    @Test("Sunrise Point root ports read ACS control from +8: real 9d10 bytes (control 0) are not isolated")
    func sunrisePoint() throws {
        let model = try Fixtures.model(dump: "cap-exp-lnkcap2")
        let port = try #require(model[PCIAddress("00:1c.0")!])
        #expect(port.config.acs?.dwordAt8 == 0)
        #expect(answer(port, model)?.id == "kernel-acs-intel-spt-pch-root-ports")
        #expect(answer(port, model)?.enabled == false)
        // The same port with SV RR CR set at +8 (UF is not in its capability, so not required).
        var enabled = port
        enabled.config.acs?.dwordAt8 = UInt32(
            ACSFlags([.sourceValidation, .requestRedirect, .completionRedirect]).rawValue)
        #expect(answer(enabled, model)?.enabled == true)
    }

    @Test("AMD southbridge quirk needs the IVRS table, multifunction and the root bus")
    func amdSouthbridge() {
        let quirk = database.quirk(id: "kernel-acs-amd-sb-ati")!
        let device = device(matching: quirk)
        let withIVRS = HostModel(
            source: "t", devices: [device], kernelGroups: nil, facts: HostFacts(acpiIVRSTable: true))
        #expect(answer(device, withIVRS)?.enabled == true)
        let without = HostModel(
            source: "t", devices: [device], kernelGroups: nil, facts: HostFacts(acpiIVRSTable: false))
        #expect(answer(device, without) == nil)
        var behindBridge = device
        behindBridge.parent = PCIAddress("00:01.0")
        #expect(answer(behindBridge, withIVRS) == nil)
    }

    @Test("tree-asus-p6t6 with kernel quirks: Intel RC-integrated endpoints leave their slot's shared group")
    func asusWithQuirks() throws {
        let model = try Fixtures.model(dump: "tree-asus-p6t6")
        let plain = GroupPrediction(model: model)
        #expect(plain.members(of: "0000:00:14.0") == ["0000:00:14.0", "0000:00:14.1", "0000:00:14.2", "0000:00:14.3"])
        let quirked = GroupPrediction(model: model, policy: ACSPolicy(quirk: database.acsQuirk(for: model)))
        // 14.0-14.2 are RC-integrated endpoints (pci_quirk_rciep_acs); 14.3 is conventional PCI
        // and stays alone once its siblings stop joining it.
        #expect(quirked.members(of: "0000:00:14.0") == ["0000:00:14.0"])
        #expect(quirked.members(of: "0000:00:14.2") == ["0000:00:14.2"])
        #expect(quirked.members(of: "0000:00:14.3") == ["0000:00:14.3"])
        // The ICH10 root ports have no quirk: still one group with both NICs.
        #expect(quirked.members(of: "0000:07:00.0") == plain.members(of: "0000:07:00.0"))
    }
}
