import PCIModel
import Testing

@Suite("Intel VT-d cap/ecap decoding")
struct IntelIOMMUCapabilityTests {
    @Test("QEMU's intel-iommu (lab reading, Debian QEMU 7.2): 2M and 1G superpages, caching mode")
    func qemu() {
        let unit = IntelIOMMUCapability(capability: 0xd2_008c_2226_0286, extendedCapability: 0xf0_0f5a)
        #expect(unit.superpageSizes == [2 << 20, 1 << 30])
        #expect(unit.maximumGuestAddressWidth == 39)
        #expect(unit.supportedAddressWidths == [39])
        #expect(unit.cachingMode)
        #expect(unit.interruptRemapping)
        #expect(unit.passThrough)
        #expect(!unit.snoopControl)
    }

    @Test("Skylake client (asokolsky/my-notes proxmox-gpu-passthrough.md: cap d2008c40660462 ecap f050da)")
    func skylake() {
        let unit = IntelIOMMUCapability(capability: 0xd2_008c_4066_0462, extendedCapability: 0xf0_50da)
        #expect(unit.superpageSizes.map(IntelIOMMUCapability.sizeName) == ["2M", "1G"])
        #expect(unit.supportedAddressWidths == [48])
        #expect(!unit.cachingMode)
        #expect(unit.snoopControl && unit.passThrough && unit.interruptRemapping)
    }

    @Test("Nehalem/Westmere 5520-class IOH (public dmesg logs: cap c90780106f0462 ecap f020fe): no superpages")
    func westmere() {
        let unit = IntelIOMMUCapability(capability: 0xc9_0780_106f_0462, extendedCapability: 0xf0_20fe)
        #expect(unit.superpageSizes.isEmpty)
        #expect(unit.maximumGuestAddressWidth == 48)
        #expect(unit.interruptRemapping)
    }
}
