import Foundation
import HostAccess
import PCIModel
import SystemPackage

/// TEST DOUBLE for the Linux PCI core, which cannot run here: a tree on disk has files but
/// no kernel behind them. Installed as a session's `kernel` (`KernelBehindWrites`), it reacts to each write the
/// way drivers/pci and drivers/base do, and only in these ways:
///
/// - `devices/ADDR/driver_override` ← NAME: stored; an empty value clears it ("(null)").
/// - `devices/ADDR/driver/unbind` ← ADDR: the `driver` link goes away.
/// - `bus/pci/drivers_probe` ← ADDR: an unbound function binds to its override if that driver
///   exists, else (no override) to the driver it was first found with.
/// - `drivers/NAME/bind` ← ADDR: binds if unbound and the override allows NAME.
/// - Write-only triggers (`bind`, `unbind`, `drivers_probe`, `compact_memory`) read back empty.
/// - Binding a driver in `vfioDrivers` (vfio-pci, and the variant drivers a test adds: the
///   drivers that register with the VFIO core) makes `vfio-dev/vfioN` with the lowest free N,
///   and `dev/vfio/devices/vfioN` when the tree has `dev/vfio/devices` (CONFIG_VFIO_DEVICE_CDEV);
///   unbinding removes both.
/// - When every endpoint of group N has `vfio-dev/`, `dev/vfio/N` appears (and goes when not).
/// - `sriov_numvfs` ← N: refused (EBUSY-like) when changing between two non-zero counts;
///   else VF directories, `virtfnK`/`physfn` links and `iommu_group` links appear or go.
///
/// - `reset_method` ← `default`: the list the function had when the model started (the kernel
///   probes again); ← methods: kept when each is one the function listed then or one of
///   `addedResetMethods` (a module such as vendor-reset loaded since), else EINVAL and the
///   list stays as it was. What probing finds is the file `.reset_method_probed` next to
///   `reset_method` when a tree has one (so a model made after a write, in a later process,
///   knows the hardware's methods), else `reset_method` itself.
///
/// `failWrite` makes chosen writes fail, to exercise rollback.
public final class KernelModel: KernelBehindWrites, @unchecked Sendable {
    public let root: String
    private var naturalDrivers: [String: String] = [:]
    public var failWrite: (String, String) -> Bool = { _, _ in false }
    /// The drivers that register with the VFIO core (`vfio_pci_core_register_device`).
    public var vfioDrivers: Set<String> = ["vfio-pci"]
    /// Each function's `reset_method` as the model started (what probing finds).
    private var probedResetMethods: [String: [String]] = [:]
    private var resetMethods: [String: String] = [:]
    /// The tree's note of what probing finds (the model's, not the kernel's).
    public static let probedFile = ".reset_method_probed"
    /// Reset methods a module added after the lists were made, per function.
    public var addedResetMethods: [String: Set<String>] = [:]
    private let fm = FileManager.default

    public init(root: String) throws {
        self.root = root
        for name in try fm.contentsOfDirectory(atPath: root + "/sys/bus/pci/devices") {
            if let driver = driver(of: name) { naturalDrivers[name] = driver }
            if let text = try? String(contentsOfFile: deviceDirectory(name) + "/reset_method", encoding: .utf8) {
                resetMethods[name] = text
                let probed =
                    (try? String(contentsOfFile: deviceDirectory(name) + "/" + Self.probedFile, encoding: .utf8))
                    ?? text
                probedResetMethods[name] = probed.split(whereSeparator: \.isWhitespace).map(String.init)
            }
        }
    }

    private func deviceDirectory(_ address: String) -> String { root + "/sys/bus/pci/devices/" + address }

    public func driver(of address: String) -> String? {
        (try? fm.destinationOfSymbolicLink(atPath: deviceDirectory(address) + "/driver")).map {
            ($0 as NSString).lastPathComponent
        }
    }

    public func override(of address: String) -> String? {
        let text = (try? String(contentsOfFile: deviceDirectory(address) + "/driver_override", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text == nil || text == "(null)" || text == "" ? nil : text
    }

    private func link(_ address: String, to driver: String) throws {
        guard fm.fileExists(atPath: root + "/sys/bus/pci/drivers/\(driver)") else { return }
        let real = try fm.destinationOfSymbolicLink(atPath: deviceDirectory(address))  // ../../../devices/…
        let depth = real.split(separator: "/").filter { $0 != ".." }.count
        let up = Array(repeating: "..", count: depth).joined(separator: "/")
        try fm.createSymbolicLink(
            atPath: deviceDirectory(address) + "/driver", withDestinationPath: "\(up)/bus/pci/drivers/\(driver)")
        if vfioDrivers.contains(driver) { try addVFIODevice(address) }
    }

    /// All `vfio-dev/vfioN` indices in use.
    private func vfioIndicesInUse() -> Set<Int> {
        let devices = (try? fm.contentsOfDirectory(atPath: root + "/sys/bus/pci/devices")) ?? []
        var used = Set<Int>()
        for name in devices {
            for node in (try? fm.contentsOfDirectory(atPath: deviceDirectory(name) + "/vfio-dev")) ?? [] {
                if let n = Int(node.dropFirst(4)) { used.insert(n) }
            }
        }
        return used
    }

    private func addVFIODevice(_ address: String) throws {
        let used = vfioIndicesInUse()
        let index = (0...).first { !used.contains($0) } ?? 0
        try fm.createDirectory(
            atPath: deviceDirectory(address) + "/vfio-dev/vfio\(index)", withIntermediateDirectories: true)
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: root + "/dev/vfio/devices", isDirectory: &isDirectory), isDirectory.boolValue {
            _ = fm.createFile(atPath: root + "/dev/vfio/devices/vfio\(index)", contents: nil)
        }
    }

    private func removeVFIODevice(_ address: String) {
        let directory = deviceDirectory(address) + "/vfio-dev"
        for node in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            try? fm.removeItem(atPath: root + "/dev/vfio/devices/" + node)
        }
        try? fm.removeItem(atPath: directory)
    }

    /// Whether the VFIO core holds the function (`vfio-dev/` exists).
    public func hasVFIODevice(_ address: String) -> Bool {
        !((try? fm.contentsOfDirectory(atPath: deviceDirectory(address) + "/vfio-dev")) ?? []).isEmpty
    }

    public func react(to write: HostWriter.Write) throws {
        let path = write.path
        let value = write.value
        if failWrite(path, value) { throw HostAccessError(.ioError, "write \(value) to \(path): simulated failure") }
        // Write-only triggers keep no value in sysfs (reading them fails); in a tree the
        // written text would stay, so it is cleared before the path's links change.
        let triggers = ["/unbind", "/bind", "/drivers_probe", "/compact_memory", "/remove", "/rescan"]
        if triggers.contains(where: { path.hasSuffix($0) }) {
            try Data().write(to: URL(fileURLWithPath: path))
        }
        let parts = path.split(separator: "/").map(String.init)
        if path.hasSuffix("/driver_override") {
            let address = parts[parts.count - 2]
            try (value.isEmpty ? "(null)\n" : value + "\n").write(
                toFile: deviceDirectory(address) + "/driver_override", atomically: false, encoding: .utf8)
        } else if path.hasSuffix("/driver/unbind") {
            try? fm.removeItem(atPath: deviceDirectory(value) + "/driver")
            removeVFIODevice(value)
        } else if path.hasSuffix("/bus/pci/drivers_probe") {
            if driver(of: value) == nil, let target = override(of: value) ?? naturalDrivers[value] {
                try link(value, to: target)
            }
        } else if path.hasSuffix("/reset_method") {
            try setResetMethods(of: parts[parts.count - 2], to: value)
        } else if path.hasSuffix("/sriov_numvfs"), let count = Int(value) {
            try setVFs(of: parts[parts.count - 2], to: count)
        } else if path.hasSuffix("/bind"), parts.count >= 2 {
            let name = parts[parts.count - 2]
            if driver(of: value) == nil, override(of: value).map({ $0 == name }) ?? true { try link(value, to: name) }
        }
        try updateVFIODevices()
    }

    /// `reset_method_store()`: `default`, or methods each of which probes successfully.
    private func setResetMethods(of address: String, to value: String) throws {
        let file = deviceDirectory(address) + "/reset_method"
        let probed = probedResetMethods[address] ?? []
        let words = value.split(separator: " ").map(String.init)
        let supported = Set(probed).union(addedResetMethods[address] ?? [])
        if value != "default", let bad = words.first(where: { !supported.contains($0) }) {
            try (resetMethods[address] ?? "").write(toFile: file, atomically: false, encoding: .utf8)
            throw HostAccessError(
                .ioError, "write \(value) to \(file): unsupported reset method \(bad)", path: file,
                syscall: "write", errno: .invalidArgument)
        }
        let text = (value == "default" ? probed.joined(separator: " ") : value) + "\n"
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        resetMethods[address] = text
    }

    /// The PF's VFs, from its virtfnN links.
    public func vfs(of pf: String) -> [String] {
        let entries = (try? fm.contentsOfDirectory(atPath: deviceDirectory(pf))) ?? []
        return entries.filter { $0.hasPrefix("virtfn") }.sorted {
            Int($0.dropFirst(6)) ?? 0 < Int($1.dropFirst(6)) ?? 0
        }
        .compactMap { try? fm.destinationOfSymbolicLink(atPath: deviceDirectory(pf) + "/" + $0) }
        .map { ($0 as NSString).lastPathComponent }
    }

    /// sriov_numvfs: EBUSY between two non-zero counts; 0 removes the VFs; N creates them at
    /// the routing IDs the PF's SR-IOV capability gives (First VF Offset, VF Stride), each in
    /// a new IOMMU group, without a driver.
    private func setVFs(of pf: String, to count: Int) throws {
        let existing = vfs(of: pf)
        if count != 0, !existing.isEmpty, count != existing.count {
            throw HostAccessError(
                .ioError, "write \(count) to sriov_numvfs of \(pf): Device or resource busy (simulated EBUSY)")
        }
        let pfReal = try fm.destinationOfSymbolicLink(atPath: deviceDirectory(pf))
        let parentReal = (pfReal as NSString).deletingLastPathComponent  // ../../../devices/…/bridge
        let devicesDir = root + "/sys/bus/pci/devices"
        if count == 0 {
            for (index, vf) in existing.enumerated() {
                let group = (try? fm.destinationOfSymbolicLink(atPath: deviceDirectory(vf) + "/iommu_group")).map {
                    ($0 as NSString).lastPathComponent
                }
                try fm.removeItem(atPath: (devicesDir as NSString).appendingPathComponent(parentReal) + "/" + vf)
                try fm.removeItem(atPath: devicesDir + "/" + vf)
                try fm.removeItem(atPath: deviceDirectory(pf) + "/virtfn\(index)")
                if let group { try? fm.removeItem(atPath: root + "/sys/kernel/iommu_groups/\(group)") }
            }
        } else if existing.isEmpty {
            let config = try [UInt8](Data(contentsOf: URL(fileURLWithPath: deviceDirectory(pf) + "/config")))
            guard let sriov = DecodedConfig(ConfigSpace(config)).sriov, let pfAddress = PCIAddress(pf) else { return }
            let pfRID = Int(pfAddress.bus) << 8 | Int(pfAddress.device) << 3 | Int(pfAddress.function)
            var nextGroup =
                ((try? fm.contentsOfDirectory(atPath: root + "/sys/kernel/iommu_groups")) ?? []).compactMap { Int($0) }
                .max() ?? 0
            for index in 0..<count {
                let rid = pfRID + Int(sriov.firstVFOffset) + Int(sriov.vfStride) * index
                let vf = PCIAddress(
                    domain: pfAddress.domain, bus: UInt8(rid >> 8), device: UInt8((rid >> 3) & 0x1f),
                    function: UInt8(rid & 7))
                let name = vf.description
                let directory = (devicesDir as NSString).appendingPathComponent(parentReal) + "/" + name
                try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
                var vfConfig = config
                for i in 0..<4 { vfConfig[i] = 0xff }
                try Data(vfConfig).write(to: URL(fileURLWithPath: directory + "/config"))
                let files = [
                    "vendor": "0x" + hex(DecodedConfig(ConfigSpace(config)).vendorID, width: 4),
                    "device": "0x" + hex(sriov.vfDeviceID, width: 4),
                    "class": "0x020000", "driver_override": "(null)", "numa_node": "-1",
                ]
                for (file, text) in files {
                    try (text + "\n").write(toFile: directory + "/" + file, atomically: false, encoding: .utf8)
                }
                try fm.createSymbolicLink(atPath: directory + "/physfn", withDestinationPath: "../" + pf)
                try fm.createSymbolicLink(
                    atPath: deviceDirectory(pf) + "/virtfn\(index)", withDestinationPath: "../" + name)
                try fm.createSymbolicLink(
                    atPath: devicesDir + "/" + name,
                    withDestinationPath: (parentReal as NSString).appendingPathComponent(name))
                nextGroup += 1
                let groupDir = root + "/sys/kernel/iommu_groups/\(nextGroup)/devices"
                try fm.createDirectory(atPath: groupDir, withIntermediateDirectories: true)
                let depth = ((parentReal as NSString).appendingPathComponent(name)).split(separator: "/").filter {
                    $0 != ".."
                }.count
                try fm.createSymbolicLink(
                    atPath: directory + "/iommu_group",
                    withDestinationPath: Array(repeating: "..", count: depth).joined(separator: "/")
                        + "/kernel/iommu_groups/\(nextGroup)")
                try fm.createSymbolicLink(
                    atPath: groupDir + "/" + name,
                    withDestinationPath: "../../../../"
                        + ((parentReal as NSString).appendingPathComponent(name) as NSString).replacingOccurrences(
                            of: "../", with: ""))
            }
        }
        try "\(count)\n".write(toFile: deviceDirectory(pf) + "/sriov_numvfs", atomically: false, encoding: .utf8)
    }

    /// `dev/vfio/N` for each group whose endpoints all have `vfio-dev/` (VFIO-owned).
    public func updateVFIODevices() throws {
        let groups = root + "/sys/kernel/iommu_groups"
        try fm.createDirectory(atPath: root + "/dev/vfio", withIntermediateDirectories: true)
        for group in (try? fm.contentsOfDirectory(atPath: groups)) ?? [] {
            let members = (try? fm.contentsOfDirectory(atPath: "\(groups)/\(group)/devices")) ?? []
            let endpoints = members.filter { !isBridge($0) }
            // Before 6.1 there is no vfio-dev/: a tree bound to vfio-pci without it is such a kernel.
            let allVFIO =
                !endpoints.isEmpty && endpoints.allSatisfy { hasVFIODevice($0) || driver(of: $0) == "vfio-pci" }
            let node = root + "/dev/vfio/\(group)"
            if allVFIO, !fm.fileExists(atPath: node) { _ = fm.createFile(atPath: node, contents: nil) }
            if !allVFIO, fm.fileExists(atPath: node) { try fm.removeItem(atPath: node) }
        }
    }

    private func isBridge(_ address: String) -> Bool {
        let text = (try? String(contentsOfFile: deviceDirectory(address) + "/class", encoding: .utf8)) ?? ""
        return text.hasPrefix("0x0604")
    }
}
