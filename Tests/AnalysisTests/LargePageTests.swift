import Analysis
import PCIModel
import Testing

@Suite("Large-page verdicts")
struct LargePageTests {
    let qemu = IOMMUUnit(name: "dmar0", kind: .intel, capability: 0xd2_008c_2226_0286, extendedCapability: 0xf0_0f5a)

    @Test("superpages available unless intel_iommu=sp_off")
    func spOff() {
        #expect(LargePageVerdict(unit: qemu, commandLine: ["intel_iommu=on"]).available)
        let off = LargePageVerdict(unit: qemu, commandLine: ["intel_iommu=on,sp_off"])
        #expect(!off.available)
        #expect(off.reason.contains("sp_off"))
        let old = IOMMUUnit(name: "dmar0", kind: .intel, capability: 0xc9_0780_106f_0462, extendedCapability: 0xf0_20fe)
        #expect(!LargePageVerdict(unit: old, commandLine: []).available)
    }

    @Test("inspect's host checks advise hugepage backing where the IOMMU has superpages")
    func hostCheck() {
        let model = HostModel(source: "t", devices: [], kernelGroups: [:], facts: HostFacts(iommuUnits: [qemu]))
        let check = HostChecks.run(model).first { $0.code == "iommu-superpages" }
        #expect(check?.status == .pass)
        #expect(check?.message.contains("2M/1G") == true)
        let spOff = HostModel(
            source: "t", devices: [], kernelGroups: [:],
            facts: HostFacts(kernelCommandLine: "intel_iommu=on,sp_off", iommuUnits: [qemu]))
        #expect(HostChecks.run(spOff).first { $0.code == "iommu-superpages" }?.status == .warn)
    }
}
