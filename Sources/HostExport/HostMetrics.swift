import Analysis
import Exposition
import PCIModel
import QuirkDB

/// `vfioctl inspect --format prom`: the inspect report as metrics for node_exporter's textfile
/// collector. Every family is a gauge named `vfioctl_…`; label sets are fixed per family, and
/// states (verdicts, check results) are one sample per possible state, 1 for the current one
/// and 0 for the rest, so a query or an alert never depends on a series appearing.
public enum HostMetrics {
    public static func families(report: InspectReport, quirks: QuirkEvaluation, version: String) -> [MetricFamily] {
        let groups = HostGroups(report: report)
        let model = report.model

        var info = MetricFamily(
            "vfioctl_info", .gauge, help: "Always 1: the vfioctl version and the kernel release it read.",
            labels: ["version", "kernel_release", "groups"])
        info.add([version, model.facts.kernelRelease ?? "", groups.areKernelGroups ? "kernel" : "predicted"], 1)

        var checks = MetricFamily(
            "vfioctl_host_check", .gauge,
            help:
                "Host-wide checks of vfioctl inspect that apply to this host: 1 for each check's status, 0 for the others.",
            labels: ["check", "status"])
        for check in report.hostChecks {
            for status in [HostCheck.Status.pass, .warn, .fail, .unknown] {
                checks.add([check.code.rawValue, status.rawValue], check.status == status)
            }
        }

        var functions = MetricFamily(
            "vfioctl_functions", .gauge, help: "PCI functions by verdict (bridges included).", labels: ["verdict"])
        var deviceInfo = MetricFamily(
            "vfioctl_device_info", .gauge,
            help: "Always 1: a PCI function's ids, class, bound driver and IOMMU group (empty when none).",
            labels: ["address", "vendor", "device", "class", "driver", "iommu_group"])
        var deviceVerdict = MetricFamily(
            "vfioctl_device_verdict", .gauge,
            help:
                "A PCI function's verdict: 1 for the current one (assignable, caveats, unknown, blocked), 0 for the others.",
            labels: ["address", "verdict"])
        var alone = MetricFamily(
            "vfioctl_device_assignable_alone", .gauge,
            help: "1 when a function is assignable (or with caveats) and no other card shares its IOMMU group.",
            labels: ["address"])
        var vfsSupported = MetricFamily(
            "vfioctl_sriov_vfs_supported", .gauge, help: "SR-IOV TotalVFs of a physical function.",
            labels: ["address"])
        var vfsEnabled = MetricFamily(
            "vfioctl_sriov_vfs_enabled", .gauge, help: "SR-IOV NumVFs of a physical function: VFs enabled now.",
            labels: ["address"])
        var quirkMatches = MetricFamily(
            "vfioctl_quirk_match_info", .gauge, help: "Always 1: a quirk database entry that matches a PCI function.",
            labels: ["address", "quirk"])

        var verdicts: [PCIAddress: Verdict] = [:]
        var counts: [Verdict: Int] = [:]
        for device in model.devices {
            let address = device.address.description
            let verdict = groups.verdict(of: device)
            verdicts[device.address] = verdict
            counts[verdict, default: 0] += 1
            deviceInfo.add(
                [
                    address, hex(device.vendorID, width: 4), hex(device.deviceID, width: 4),
                    hex(device.config.classCode, width: 6),
                    device.driver ?? "", device.iommuGroup.map(String.init) ?? "",
                ], 1)
            for candidate in Verdict.allCases {
                deviceVerdict.add([address, candidate.rawValue], verdict == candidate)
            }
            if GroupSharing.isGuestCandidate(device) {
                alone.add([address], groups.isAssignableAlone(device, verdict: verdict))
            }
            if let sriov = device.config.sriov {
                vfsSupported.add([address], Int(sriov.totalVFs))
                vfsEnabled.add([address], Int(sriov.numVFs))
            }
            for match in quirks.matches[device.address] ?? [] { quirkMatches.add([address, match.quirk.id], 1) }
        }
        for verdict in Verdict.allCases { functions.add([verdict.rawValue], counts[verdict] ?? 0) }

        var groupFunctions = MetricFamily(
            "vfioctl_iommu_group_functions", .gauge, help: "PCI functions in a kernel IOMMU group (bridges included).",
            labels: ["iommu_group"])
        var groupVerdict = MetricFamily(
            "vfioctl_iommu_group_verdict", .gauge,
            help: "A kernel IOMMU group's verdict (its worst endpoint's): 1 for the current one, 0 for the others.",
            labels: ["iommu_group", "verdict"])
        for (number, members) in (model.kernelGroups ?? [:]).sorted(by: { $0.key < $1.key }) {
            groupFunctions.add([String(number)], members.count)
            let verdict = report.verdict(ofGroup: members, verdicts: verdicts)
            for candidate in Verdict.allCases {
                groupVerdict.add([String(number), candidate.rawValue], verdict == candidate)
            }
        }
        var mismatches = MetricFamily(
            "vfioctl_iommu_group_prediction_mismatches", .gauge,
            help: "Kernel IOMMU groups whose members differ from vfioctl's prediction from config space.")
        mismatches.add([], report.disagreements.count)

        return [
            info, checks, functions, groupFunctions, groupVerdict, mismatches, deviceInfo, deviceVerdict, alone,
            vfsSupported, vfsEnabled, quirkMatches,
        ]
    }
}
