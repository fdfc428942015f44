import Analysis
import Foundation
import HostAccess
import PCIModel
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// VFIO ownership by `vfio-dev/vfioN` (any vfio-pci variant driver), group default-domain
/// types, the cdev interface and `allow_unsafe_interrupts`, read from trees written the
/// kernel's way and judged by the inspect rules.
@Suite("VFIO ownership, group types and unsafe interrupts")
struct VFIOOwnershipTests {
    typealias Function = OwnershipTree.Function

    func withTree<T>(_ first: Function, _ second: Function, _ body: (OwnershipTree) throws -> T) throws -> T {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        return try body(try OwnershipTree(first, second, in: parent))
    }

    @Test("the rule: vfio-dev makes any driver VFIO's; vfio-pci by name only without it; variants never by name")
    func rule() {
        #expect(
            VFIOOwnership(driver: "mlx5_vfio_pci", vfioDeviceName: "vfio3")
                == .vfio(driver: "mlx5_vfio_pci", node: "vfio3"))
        #expect(VFIOOwnership(driver: "vfio-pci", vfioDeviceName: nil) == .vfio(driver: "vfio-pci", node: nil))
        // A variant driver without vfio-dev is not recognised by its name.
        #expect(VFIOOwnership(driver: "mlx5_vfio_pci", vfioDeviceName: nil) == .host(driver: "mlx5_vfio_pci"))
        #expect(VFIOOwnership(driver: "pci-stub", vfioDeviceName: nil) == .stub)
        #expect(VFIOOwnership(driver: nil, vfioDeviceName: "vfio0") == .unbound)
        #expect(VFIOOwnership.host(driver: "e1000e").keepsGroupViable == false)
        #expect(VFIOOwnership.stub.keepsGroupViable && VFIOOwnership.unbound.keepsGroupViable)
        #expect(PCIDevice.isVFIODeviceNodeName("vfio0") && PCIDevice.isVFIODeviceNodeName("vfio4095"))
        for bad in ["vfio", "vfiox", "vfio-1", "vfio 1", "xvfio1", "vfio99999999999", "vfio١"] {
            #expect(!PCIDevice.isVFIODeviceNodeName(bad), "\(bad)")
        }
    }

    @Test("mlx5_vfio_pci with vfio-dev: VFIO-owned, the group viable, the cdev path read")
    func variantOwned() throws {
        try withTree(
            Function(driver: "mlx5_vfio_pci", vfioNode: "vfio3", cdev: true),
            Function(driver: "vfio-pci", vfioNode: "vfio0")
        ) { tree in
            let model = try tree.read()
            let first = try #require(model[OwnershipTree.first])
            #expect(first.vfioOwnership == .vfio(driver: "mlx5_vfio_pci", node: "vfio3"))
            #expect(first.vfioCdevPath == "/dev/vfio/devices/vfio3")
            #expect(model[OwnershipTree.second]?.vfioCdevPath == nil)
            let report = InspectReport(model: model)
            let reasons = try #require(report.assessment(of: OwnershipTree.first)).reasons
            let bound = try #require(reasons.first { $0.code == .vfioBound })
            #expect(bound.message.contains("VFIO-owned by mlx5_vfio_pci (vfio-dev/vfio3)"))
            #expect(bound.message.contains("cdev /dev/vfio/devices/vfio3"))
            #expect(!reasons.contains { $0.code == .hostDriver || $0.code == .groupMemberDriver })
            let sibling = try #require(report.assessment(of: OwnershipTree.second)).reasons
            #expect(!sibling.contains { $0.code == .groupMemberDriver })
        }
    }

    @Test("the same tree on mlx5_core (no vfio-dev): a host driver, and it holds the group")
    func hostDriverHolds() throws {
        try withTree(Function(driver: "mlx5_core"), Function(driver: "vfio-pci", vfioNode: "vfio0")) { tree in
            let model = try tree.read()
            #expect(model[OwnershipTree.first]?.isVFIOOwned == false)
            let report = InspectReport(model: model)
            let reasons = try #require(report.assessment(of: OwnershipTree.first)).reasons
            #expect(reasons.contains { $0.code == .hostDriver && $0.message.contains("mlx5_core") })
            #expect(!reasons.contains { $0.code == .vfioBound })
            let sibling = try #require(report.assessment(of: OwnershipTree.second)).reasons
            #expect(
                sibling.contains { $0.code == .groupMemberDriver && $0.related == [OwnershipTree.first.description] })
        }
    }

    @Test("a vfio-dev that is not the core's: a file, a stray name, a link out of the root")
    func forgedVFIODev() throws {
        try withTree(Function(driver: "mlx5_vfio_pci"), Function(driver: "mlx5_vfio_pci")) { tree in
            let base = "sys/bus/pci/devices/"
            try tree.put(base + "0000:01:00.0/vfio-dev", "vfio0\n")
            try FileManager.default.createDirectory(
                atPath: tree.directory + "/" + base + "0000:01:00.1/vfio-dev/vfiox", withIntermediateDirectories: true)
            var model = try tree.read()
            #expect(model[OwnershipTree.first]?.isVFIOOwned == false)
            #expect(model[OwnershipTree.second]?.isVFIOOwned == false)
            // A link to / resolves inside the root: /vfio-dev there does not exist.
            let link = tree.directory + "/" + base + "0000:01:00.1/vfio-dev"
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/")
            model = try tree.read()
            #expect(model[OwnershipTree.second]?.isVFIOOwned == false)
        }
    }

    @Test("group type: identity is explained as passthrough VFIO replaces; DMA-FQ says nothing; junk is an anomaly")
    func groupTypes() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let tree = try OwnershipTree(
            Function(driver: "e1000e"), Function(driver: "e1000e"), in: parent
        ) { model in model.groupTypes = [1: .dmaFQ, 2: .identity] }
        do {
            var model = try tree.read()
            #expect(model.groupTypes == [1: .dmaFQ, 2: .identity])
            let reasons = try #require(InspectReport(model: model).assessment(of: OwnershipTree.first)).reasons
            let type = try #require(reasons.first { $0.code == .iommuGroupType })
            #expect(type.severity == .assignable)
            #expect(type.message.contains("identity") && type.message.contains("VFIO still attaches its own"))
            for junk in ["auto", "", "DMA\u{0}", String(repeating: "D", count: 5000), "\u{FF}\u{FE}"] {
                try tree.put("sys/kernel/iommu_groups/2/type", junk)
                model = try tree.read()
                #expect(model.groupTypes[2] == nil, "\(junk.prefix(8))")
                #expect(model.anomalies.contains { $0.contains("iommu_groups/2/type") }, "\(junk.prefix(8))")
            }
        }
    }

    @Test("allow_unsafe_interrupts=Y fails the host check, with Intel IR shown; N passes; junk is unknown")
    func unsafeInterrupts() throws {
        let intel = IOMMUUnit(name: "dmar0", kind: .intel, capability: 0, extendedCapability: 1 << 3)
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let tree = try OwnershipTree(
            Function(driver: "vfio-pci"), Function(driver: "vfio-pci"), in: parent
        ) { model in
            model.facts.iommuUnits = [intel]
            model.facts.allowUnsafeInterrupts = [.type1: true]
        }
        do {
            var model = try tree.read()
            #expect(model.facts.allowUnsafeInterrupts == [.type1: true])
            var check = try #require(HostChecks.run(model).first { $0.code == .unsafeInterrupts })
            #expect(check.status == .fail)
            #expect(check.message.contains("vfio_iommu_type1") && check.message.contains("forge MSIs"))
            #expect(check.message.contains("interrupt remapping supported by every DMAR unit"))
            let reasons = try #require(InspectReport(model: model).assessment(of: OwnershipTree.first)).reasons
            #expect(reasons.contains { $0.code == .unsafeInterrupts && $0.severity == .caveats })

            try tree.put("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n")
            try tree.put("sys/module/iommufd/parameters/allow_unsafe_interrupts", "N\n")
            model = try tree.read()
            check = try #require(HostChecks.run(model).first { $0.code == .unsafeInterrupts })
            #expect(check.status == .pass)
            #expect(check.message.contains("vfio_iommu_type1, iommufd"))
            #expect(check.message.contains("interrupt remapping supported"))
            #expect(
                !(InspectReport(model: model).assessment(of: OwnershipTree.first)?.reasons ?? []).contains {
                    $0.code == .unsafeInterrupts
                })

            // iommufd alone allowing it is enough to fail.
            try tree.put("sys/module/iommufd/parameters/allow_unsafe_interrupts", "Y\n")
            #expect(HostChecks.run(try tree.read()).first { $0.code == .unsafeInterrupts }?.status == .fail)

            for junk in ["maybe", "", String(repeating: "Y", count: 100_000)] {
                try tree.put("sys/module/iommufd/parameters/allow_unsafe_interrupts", junk)
                try tree.put("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", junk)
                model = try tree.read()
                #expect(model.facts.allowUnsafeInterrupts.isEmpty, "\(junk.prefix(8))")
                #expect(model.anomalies.contains { $0.contains("allow_unsafe_interrupts") })
                #expect(HostChecks.run(model).first { $0.code == .unsafeInterrupts }?.status == .unknown)
            }
        }
    }

    @Test("a FIFO as allow_unsafe_interrupts is refused by name, never waited on")
    func fifoParameter() throws {
        try withTree(Function(driver: nil), Function(driver: nil)) { tree in
            let path = tree.directory + "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            #expect(mkfifo(path, 0o600) == 0)
            let model = try tree.read()
            #expect(model.facts.allowUnsafeInterrupts.isEmpty)
            #expect(model.anomalies.contains { $0.contains("allow_unsafe_interrupts") })
        }
    }

    @Test("not loaded: unknown, unless the kernel command line asks for it; AMD-Vi remapping is unknown")
    func commandLineAndAMD() {
        var facts = HostFacts(iommuUnits: [IOMMUUnit(name: "ivhd0", kind: .amd, capability: 0x190)])
        var check = HostChecks.unsafeInterruptsCheck(facts)
        #expect(check.status == .unknown)
        #expect(check.message.contains("interrupt remapping unknown on AMD-Vi"))
        facts.kernelCommandLine = "ro vfio_iommu_type1.allow_unsafe_interrupts=1 quiet"
        check = HostChecks.unsafeInterruptsCheck(facts)
        #expect(check.status == .fail && check.message.contains("kernel command line"))
        facts.kernelCommandLine = "ro vfio_iommu_type1.allow_unsafe_interrupts=0"
        #expect(HostChecks.unsafeInterruptsCheck(facts).status == .unknown)
        // A loaded module's value wins over the command line.
        facts.kernelCommandLine = "vfio_iommu_type1.allow_unsafe_interrupts=1"
        facts.allowUnsafeInterrupts = [.type1: false]
        #expect(HostChecks.unsafeInterruptsCheck(facts).status == .pass)
        let lacking = HostFacts(iommuUnits: [
            IOMMUUnit(name: "dmar1", kind: .intel, capability: 0, extendedCapability: 0)
        ])
        #expect(HostChecks.interruptRemappingState(lacking).contains("missing on dmar1"))
    }

    @Test("the interfaces: /dev/iommu and /dev/vfio/vfio present or not; no dev/ at all says nothing")
    func interfaces() throws {
        let parent = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let tree = try OwnershipTree(
            Function(driver: "vfio-pci", vfioNode: "vfio0", cdev: true),
            Function(driver: "vfio-pci", vfioNode: "vfio1"), in: parent
        ) { model in
            model.facts.iommufdDevice = true
            model.facts.vfioContainerDevice = true
            model.vfioGroupNodes = [2]
        }
        do {
            var model = try tree.read()
            #expect(model.facts.iommufdDevice == true && model.facts.vfioContainerDevice == true)
            #expect(model.vfioGroupNodes == [2])
            var check = try #require(HostChecks.run(model).first { $0.code == .vfioInterfaces })
            #expect(check.message.contains("/dev/iommu present") && check.message.contains("1 device node(s)"))
            try FileManager.default.removeItem(atPath: tree.directory + "/dev/iommu")
            model = try tree.read()
            #expect(model.facts.iommufdDevice == false)
            check = try #require(HostChecks.run(model).first { $0.code == .vfioInterfaces })
            #expect(check.message.contains("no /dev/iommu"))
            try FileManager.default.removeItem(atPath: tree.directory + "/dev")
            model = try tree.read()
            #expect(model.facts.iommufdDevice == nil && model.vfioGroupNodes.isEmpty)
            #expect(!HostChecks.run(model).contains { $0.code == .vfioInterfaces })
        }
    }
}
