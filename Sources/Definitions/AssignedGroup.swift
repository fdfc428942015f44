import Analysis
import PCIModel

/// The IOMMU group `vfioctl xml` writes hostdevs for: the kernel's group (the
/// `kernel/iommu_groups/N/devices` links, `iommu_group` of a function), or, in a source
/// without kernel groups (an lspci dump, a snapshot of a host with the IOMMU off), the group
/// predicted from config space (`pN` in `vfioctl inspect`).
public struct AssignedGroup: Sendable, Equatable {
    /// Whose group this is.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        case kernel(Int)
        case predicted(Int)

        /// The group's number (the kernel's, or the index of the predicted group).
        public var number: Int {
            switch self {
            case .kernel(let number), .predicted(let number): number
            }
        }

        /// `kernel` or `predicted`, as JSON names the origin.
        public var kind: String {
            switch self {
            case .kernel: "kernel"
            case .predicted: "predicted"
            }
        }

        /// `IOMMU group N` / `predicted IOMMU group pN`, as messages name it.
        public var description: String {
            switch self {
            case .kernel(let number): "IOMMU group \(number)"
            case .predicted(let number): "predicted IOMMU group p\(number)"
            }
        }
    }

    public var origin: Origin
    /// Every member, in address order.
    public var members: [PCIAddress]
    /// The members a guest can be given: every function that is not a PCI bridge.
    public var endpoints: [PCIAddress]
    /// Bridges and ports of the group: they stay with the host on pcieport.
    public var bridges: [PCIAddress]

    /// The group `target` names: `group:N` is the kernel's group N (the predicted group N
    /// when the source has no kernel groups); an address is that function's group.
    public init(target: DeviceTarget, model: HostModel, prediction: GroupPrediction) throws(DefinitionError) {
        let origin: Origin
        let members: [PCIAddress]
        switch target {
        case .group(let number):
            if model.kernelGroups?.isEmpty == true {
                throw DefinitionError(.noSuchGroup, Self.iommuOff(model, what: "group:\(number) does not exist"))
            }
            if let kernelGroups = model.kernelGroups {
                guard let found = kernelGroups[number] else {
                    let known = kernelGroups.keys.sorted()
                    throw DefinitionError(
                        .noSuchGroup,
                        "\(model.source) has no IOMMU group \(number) (its groups: \(Self.ranges(known))); `vfioctl inspect` lists them"
                    )
                }
                (origin, members) = (.kernel(number), found)
            } else {
                guard prediction.groups.indices.contains(number) else {
                    throw DefinitionError(
                        .noSuchGroup,
                        "\(model.source) has no kernel IOMMU groups, and no predicted group p\(number) (predicted: p0 to p\(prediction.groups.count - 1)); `vfioctl inspect` lists them"
                    )
                }
                (origin, members) = (.predicted(number), prediction.groups[number])
            }
        case .function(let address):
            guard let device = model[address] else {
                throw DefinitionError(
                    .noSuchFunction,
                    "no PCI function \(address) in \(model.source); `vfioctl inspect` lists them all")
            }
            if model.kernelGroups?.isEmpty == true {
                throw DefinitionError(.noGroup, Self.iommuOff(model, what: "\(address) is in no IOMMU group"))
            }
            if let kernelGroups = model.kernelGroups {
                guard let number = device.iommuGroup, let found = kernelGroups[number] else {
                    throw DefinitionError(
                        .noGroup,
                        "\(address) is in no IOMMU group: no IOMMU translates for it, so it cannot be assigned (see `vfioctl inspect \(address)`)"
                    )
                }
                (origin, members) = (.kernel(number), found)
            } else {
                guard let number = prediction.group(of: address) else {
                    throw DefinitionError(
                        .noGroup,
                        "\(address) is in no predicted IOMMU group: no IOMMU would translate for it (see `vfioctl inspect \(address)`)"
                    )
                }
                (origin, members) = (.predicted(number), prediction.groups[number])
            }
        }
        self.origin = origin
        self.members = members.sorted()
        // A member the model does not hold (a dangling group link) is not offered either.
        endpoints = self.members.filter { model[$0].map { !$0.isBridge } ?? false }
        bridges = self.members.filter { model[$0]?.isBridge ?? false }
        guard !endpoints.isEmpty else {
            throw DefinitionError(
                .noEndpoints,
                "\(origin) holds only bridges (\(self.members.map(\.description).joined(separator: ", "))): they stay with the host, there is nothing to give a guest"
            )
        }
    }

    /// The message for a source whose kernel has no IOMMU groups at all.
    static func iommuOff(_ model: HostModel, what: String) -> String {
        "\(what): \(model.source) has no IOMMU groups at all, the IOMMU is off; boot with intel_iommu=on or amd_iommu=on (and VT-d / AMD-Vi on in firmware), see `vfioctl inspect`"
    }

    /// `0-3, 5, 7-9`.
    static func ranges(_ numbers: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < numbers.count {
            var end = index
            while end + 1 < numbers.count, numbers[end + 1] == numbers[end] + 1 { end += 1 }
            parts.append(end == index ? "\(numbers[index])" : "\(numbers[index])-\(numbers[end])")
            index = end + 1
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
