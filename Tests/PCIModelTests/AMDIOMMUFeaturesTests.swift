import PCIModel
import Testing

@Suite("AMD-Vi registers from class/iommu/ivhdN/amd-iommu")
struct AMDIOMMUFeaturesTests {
    /// What Linux 6.12 showed for QEMU 10's amd-iommu in the lab (`amd-vi` scenario):
    /// `cap` 1f03000f, `features` 29d3:0, and the kernel logged
    /// "AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE".
    static let lab = AMDIOMMUFeatures(capabilityHeader: 0x1f03_000f, extendedFeatures: 0x29d3, extendedFeatures2: 0)

    @Test("features: EFR2:EFR before Linux 6.7 (6.1 printed 0:29d3 in the lab), EFR:EFR2 after (6.12: 29d3:0)")
    func order() {
        let old = AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "6.1.0-57-amd64")
        let new = AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "6.12.117+deb12-amd64")
        #expect(old == .efr2First && new == .efrFirst)
        #expect(AMDIOMMUFeatures.parseFeatures("0:29d3", order: old)! == (0x29d3, 0))
        #expect(AMDIOMMUFeatures.parseFeatures("29d3:0", order: new)! == (0x29d3, 0))
        #expect(AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "6.6.63") == .efr2First)
        #expect(AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "6.7.0-rc1") == .efrFirst)
        #expect(AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "5.15.0-91-generic") == .efr2First)
        #expect(AMDIOMMUFeatures.FeaturesOrder(kernelRelease: nil) == .efrFirst)
        // One half 0: the other is EFR whatever the version says (a backporting 5.14 kernel).
        #expect(AMDIOMMUFeatures.parseFeatures("29d3:0", order: old)! == (0x29d3, 0))
        #expect(AMDIOMMUFeatures.parseFeatures("0:29d3", order: new)! == (0x29d3, 0))
        // Both non-zero: the version decides.
        #expect(AMDIOMMUFeatures.parseFeatures("2:29d3", order: old)! == (0x29d3, 2))
        #expect(AMDIOMMUFeatures.parseFeatures("29d3:2", order: new)! == (0x29d3, 2))
        #expect(AMDIOMMUFeatures.FeaturesOrder(kernelRelease: "garbage") == .efrFirst)
    }

    @Test("features: A:B and a bare EFR (older kernels) both parse; anything else does not")
    func parsing() {
        #expect(AMDIOMMUFeatures.parseFeatures("29d3:0")! == (0x29d3, 0))
        #expect(AMDIOMMUFeatures.parseFeatures("0x29d3")! == (0x29d3, nil))
        #expect(AMDIOMMUFeatures.parseFeatures("58f77ef22294a5a:2")! == (0x58f7_7ef2_2294_a5a, 2))
        for bad in ["", ":", "29d3:", ":0", "1:2:3", "xyz", "29d3:zz", "1ffffffffffffffff"] {
            #expect(AMDIOMMUFeatures.parseFeatures(bad) == nil, "\(bad)")
        }
    }

    @Test("the lab's unit decodes to the feature names the kernel logged")
    func labUnit() {
        let unit = Self.lab
        #expect(unit.featureNames == ["PreF", "PPR", "GT", "IA", "GA", "HE"])
        #expect(unit.extendedFeaturesSupported && unit.iotlbSupported)
        #expect(unit.guestTranslation && !unit.x2apic && unit.invalidateAll)
        // HATS (bits 11:10) = 10b: six-level host tables; GATS (13:12) = 10b reads as 4 levels.
        #expect(unit.hostPageTableLevels == 6)
        #expect(unit.guestPageTableLevels == 4)
    }

    @Test("levels follow HATS and GATS; reserved HATS and a missing EFR are unknown")
    func levels() {
        func unit(_ efr: UInt64?) -> AMDIOMMUFeatures { AMDIOMMUFeatures(capabilityHeader: 0, extendedFeatures: efr) }
        #expect(unit(0).hostPageTableLevels == 4)
        #expect(unit(1 << 10).hostPageTableLevels == 5)
        #expect(unit(3 << 10).hostPageTableLevels == nil)
        #expect(unit(nil).hostPageTableLevels == nil && unit(nil).featureNames.isEmpty)
        #expect(unit(1 << 4 | 1 << 12).guestPageTableLevels == 5)
        #expect(unit(1 << 12).guestPageTableLevels == nil, "no GTSup, no v2 tables")
    }

    @Test("IOMMUUnit decodes AMD registers only for AMD units")
    func unitKinds() {
        let amd = IOMMUUnit(name: "ivhd0", kind: .amd, capability: 0x1f03_000f, extendedCapability: 0x29d3)
        #expect(amd.amd?.featureNames.count == 6)
        #expect(amd.intel == nil)
        let intel = IOMMUUnit(name: "dmar0", kind: .intel, capability: 0x1f03_000f, extendedCapability: 0x29d3)
        #expect(intel.amd == nil)
        #expect(IOMMUUnit(name: "ivhd1", kind: .amd).amd == nil)
    }
}
