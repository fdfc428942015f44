import Analysis
import PCIModel

/// The IOMMU group each function is in, as exports name it: the kernel's group when the source
/// has one (`/sys/kernel/iommu_groups`), else vfioctl's prediction from config space.
struct HostGroups {
    let report: InspectReport
    /// True when the groups are the kernel's.
    let areKernelGroups: Bool

    init(report: InspectReport) {
        self.report = report
        areKernelGroups = report.model.kernelGroups?.isEmpty == false
    }

    /// The members of `device`'s group; nil when it is in none.
    func members(of device: PCIDevice) -> [PCIAddress]? {
        if areKernelGroups {
            guard let number = device.iommuGroup else { return nil }
            return report.model.kernelGroups?[number]
        }
        return report.prediction.group(of: device.address).map { report.prediction.groups[$0] }
    }

    /// A function's verdict: the report's, or assessed now when the report was made without it.
    func verdict(of device: PCIDevice) -> Verdict {
        report.verdict(of: device.address) ?? report.assess(device).verdict
    }

    /// Assignable alone: a guest candidate, the verdict is assignable or caveats (possible, read the reasons) and
    /// no endpoint outside the function's own card shares its group (`GroupSharing.isAlone`).
    /// This is what NFD's per-model counts and `vfioctl_device_assignable_alone` report.
    func isAssignableAlone(_ device: PCIDevice, verdict: Verdict) -> Bool {
        guard GroupSharing.isGuestCandidate(device), verdict == .assignable || verdict == .caveats,
            let members = members(of: device)
        else { return false }
        return GroupSharing.isAlone(device.address, in: members, model: report.model)
    }
}
