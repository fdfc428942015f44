import ArgumentParser
import HostAccess
import PCIModel

/// Shell completion of PCI addresses and `group:N` from the live host (ArgumentParser calls
/// back into vfioctl while the user presses Tab: `vfioctl --generate-completion-script bash`).
/// Only reads `/sys/bus/pci/devices` and `/sys/kernel/iommu_groups`.
enum LiveCompletion {
    /// Every function's address, e.g. `0000:03:00.0`.
    static func addresses(prefix: String) -> [String] {
        let names = (try? HostRoots.live.sys.list("bus/pci/devices")) ?? nil
        return (names ?? []).filter { PCIAddress($0) != nil && $0.hasPrefix(prefix) }.sorted()
    }

    /// Addresses and `group:N` for every IOMMU group.
    static func targets(prefix: String) -> [String] {
        let groups = ((try? HostRoots.live.sys.list("kernel/iommu_groups")) ?? nil) ?? []
        let numbered = groups.compactMap(Int.init).sorted().map { "group:\($0)" }
        return addresses(prefix: prefix) + numbered.filter { $0.hasPrefix(prefix) }
    }
}

extension CompletionKind {
    /// PCI addresses of the live host.
    static var pciAddress: CompletionKind { .custom { _, _, prefix in LiveCompletion.addresses(prefix: prefix) } }
    /// PCI addresses and `group:N` of the live host.
    static var pciTarget: CompletionKind { .custom { _, _, prefix in LiveCompletion.targets(prefix: prefix) } }
}
