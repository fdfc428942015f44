import Analysis
import PCIModel

/// The `permittedHostDevices.pciHostDevices` entries of a KubeVirt CR for one host
/// (`vfioctl kubevirt`): one per device model (vendor:device) with at least one function a
/// VM can be given alone.
///
/// KubeVirt hands out single functions, never a whole IOMMU group (its device plugin offers
/// each function bound to vfio-pci whose ids match a selector), so a function counts only
/// when it is the only endpoint of its group (kernel group, or predicted without kernel
/// groups) and its verdict is not blocked. Bridges (class 06: host, ISA, PCI bridges) are
/// never offered.
public struct KubeVirtDevices: Sendable {
    /// One `pciHostDevices` entry.
    public struct Entry: Sendable, Equatable {
        public var vendorID: UInt16
        public var deviceID: UInt16
        /// pci.ids name ("Vendor Device"), nil when unknown.
        public var name: String?
        public var resourceName: KubeVirtResourceName
        /// The functions that back the entry, each alone in its group, and their verdicts.
        public var functions: [(address: PCIAddress, group: AssignedGroup.Origin, verdict: Verdict)]
        /// Functions of the same model that cannot be given alone, with why: bind none of them
        /// to vfio-pci, or KubeVirt offers them too.
        public var excluded: [(address: PCIAddress, why: String)]

        /// `vvvv:dddd`, lower-case hex, as KubeVirt documents `pciVendorSelector`.
        public var pciVendorSelector: String { hex(vendorID, width: 4) + ":" + hex(deviceID, width: 4) }

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.pciVendorSelector == rhs.pciVendorSelector && lhs.resourceName == rhs.resourceName
                && lhs.functions.map(\.address) == rhs.functions.map(\.address)
        }
    }

    /// A model none of whose functions can be given alone.
    public struct Skipped: Sendable {
        public var pciVendorSelector: String
        public var name: String?
        public var functions: [(address: PCIAddress, why: String)]
    }

    /// Where the NAME of a resource name comes from.
    public enum NameSource: String, Sendable, CaseIterable {
        /// The pci.ids device name (`82576_GIGABIT_NETWORK_CONNECTION_10C9`): readable, but a
        /// hwdata update can rename a model.
        case pciIDs = "pci-ids"
        /// The ids alone (`PCI_8086_10C9`): the same on every host, whatever its pci.ids.
        case ids
    }

    public let source: String
    public let entries: [Entry]
    public let skipped: [Skipped]

    public init(report: InspectReport, names: NameSource = .pciIDs) {
        let model = report.model
        source = model.source
        let offered = model.devices.filter(GroupSharing.isGuestCandidate)
        var byModel: [UInt32: [PCIDevice]] = [:]
        for device in offered {
            byModel[UInt32(device.vendorID) << 16 | UInt32(device.deviceID), default: []].append(device)
        }
        var entries: [Entry] = []
        var skipped: [Skipped] = []
        for key in byModel.keys.sorted() {
            let devices = byModel[key, default: []].sorted { $0.address < $1.address }
            guard let first = devices.first else { continue }
            var alone: [(address: PCIAddress, group: AssignedGroup.Origin, verdict: Verdict)] = []
            var excluded: [(address: PCIAddress, why: String)] = []
            for device in devices {
                switch Self.standing(of: device, report: report) {
                case .alone(let origin, let verdict): alone.append((device.address, origin, verdict))
                case .excluded(let why): excluded.append((device.address, why))
                }
            }
            let selector = hex(first.vendorID, width: 4) + ":" + hex(first.deviceID, width: 4)
            if alone.isEmpty {
                skipped.append(Skipped(pciVendorSelector: selector, name: first.name, functions: excluded))
            } else {
                entries.append(
                    Entry(
                        vendorID: first.vendorID, deviceID: first.deviceID, name: first.name,
                        resourceName: KubeVirtResourceName(
                            vendorID: first.vendorID, deviceID: first.deviceID,
                            pciIDsName: names == .pciIDs ? first.name : nil),
                        functions: alone, excluded: excluded))
            }
        }
        self.entries = entries
        self.skipped = skipped
    }

    private enum Standing {
        case alone(AssignedGroup.Origin, Verdict)
        case excluded(String)
    }

    /// Whether `device` can be given to a VM on its own, and if not, why.
    private static func standing(of device: PCIDevice, report: InspectReport) -> Standing {
        let group: AssignedGroup
        do {
            group = try AssignedGroup(
                target: .function(device.address), model: report.model, prediction: report.prediction)
        } catch {
            return .excluded(error.message)
        }
        let others = group.endpoints.filter { $0 != device.address }
        if !others.isEmpty {
            return .excluded(
                "shares \(group.origin) with \(others.map(\.description).joined(separator: ", ")); KubeVirt gives one function at a time"
            )
        }
        let assessment = report.assessment(of: device.address) ?? report.assess(device)
        if assessment.verdict == .blocked {
            let blocking = assessment.reasons.filter { $0.severity == .blocked }
            return .excluded(
                "blocked: " + blocking.map { "[\($0.code)] \($0.message)" }.joined(separator: "; "))
        }
        return .alone(group.origin, assessment.verdict)
    }
}
