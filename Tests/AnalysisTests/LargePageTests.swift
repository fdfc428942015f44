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
        let check = HostChecks.run(model).first { $0.code == .iommuSuperpages }
        #expect(check?.status == .pass)
        #expect(check?.message.contains("2M/1G") == true)
        let spOff = HostModel(
            source: "t", devices: [], kernelGroups: [:],
            facts: HostFacts(kernelCommandLine: "intel_iommu=on,sp_off", iommuUnits: [qemu]))
        #expect(HostChecks.run(spOff).first { $0.code == .iommuSuperpages }?.status == .warn)
    }

    @Test("AMD-Vi: 2M and 1G in either format; v2 only with amd_iommu=pgtbl_v2 and GTSup; no EFR, no verdict")
    func amd() {
        let lab = IOMMUUnit(name: "ivhd0", kind: .amd, capability: 0x1f03_000f, extendedCapability: 0x29d3)
        let v1 = LargePageVerdict(unit: lab, commandLine: ["quiet"])
        #expect(v1.available && v1.sizes == [2 << 20, 1 << 30])
        #expect(v1.reason.contains("v1") && v1.reason.contains("no amd_iommu=pgtbl_v2"))
        let v2 = LargePageVerdict(unit: lab, commandLine: ["amd_iommu=force_isolation,pgtbl_v2"])
        #expect(v2.reason.contains("v2 page tables") && v2.reason.contains("has GTSup"))
        // GTSup (EFR bit 4) clear: the kernel keeps v1 whatever the command line asks.
        let noGT = IOMMUUnit(name: "ivhd0", kind: .amd, capability: 0x1f03_000f, extendedCapability: 0x29c3)
        let fallback = AMDPageTableFormat(commandLine: ["amd_iommu=pgtbl_v2"], unit: noGT.amd)
        #expect(fallback.format == .v1 && fallback.why.contains("lacks GTSup"))
        #expect(AMDPageTableFormat(commandLine: ["amd_iommu=pgtbl_v1"], unit: lab.amd).format == .v1)
        let noEFR = IOMMUUnit(name: "ivhd0", kind: .amd, capability: 0x0303_000f)
        let unknown = LargePageVerdict(unit: noEFR, commandLine: [])
        #expect(!unknown.available && unknown.reason.contains("features (EFR) were not readable"))
        let unreadable = LargePageVerdict(unit: IOMMUUnit(name: "ivhd0", kind: .amd), commandLine: [])
        #expect(!unreadable.available && unreadable.reason.contains("amd-iommu/cap was not readable"))
    }
}
