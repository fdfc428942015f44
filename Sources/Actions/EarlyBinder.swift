import HostAccess
import PCIModel
import SystemPackage

/// `vfioctl early-bind`: makes functions go to vfio-pci at boot, before their host driver
/// binds them. Writes `BootFiles.earlyBindRules` (udev sets driver_override on add, as
/// driverctl does) and `BootFiles.earlyBindModprobe` (`softdep HOST pre: vfio-pci`, so vfio-pci
/// is loaded when udev loads the host driver by modalias; `options vfio-pci ids=` on request),
/// each journaled before it is replaced, so a failure or `vfioctl recover` puts them back.
public struct EarlyBinder {
    public let session: HostSession
    public let model: HostModel

    public init(session: HostSession, model: HostModel) {
        self.session = session
        self.model = model
    }

    private var top: RootedFileSystem { session.roots.top }

    /// What the rule file records now (empty when there is none).
    public func current() throws -> EarlyBindConfiguration { try Self.current(roots: session.roots) }

    /// What the rule file below `roots` records (empty when there is none). Reads only.
    public static func current(roots: HostRoots) throws -> EarlyBindConfiguration {
        switch try BootFiles.ownedFile(BootFiles.earlyBindRules, roots: roots) {
        case .missing: return EarlyBindConfiguration()
        case .file(let bytes, _):
            return try EarlyBindConfiguration.parse(
                rules: String(decoding: bytes, as: UTF8.self),
                path: roots.top.directory.display(BootFiles.earlyBindRules).string)
        }
    }

    /// The functions `target` (`DDDD:BB:DD.F` or `group:N`) names: a group's endpoints, or an
    /// address's whole group as `vfioctl bind` takes it (the function alone without a group).
    /// `absentAllowed`: an address not on the host names itself (removing the entry of a
    /// function that has left).
    public func functions(_ target: String, absentAllowed: Bool = false) throws -> [PCIAddress] {
        let group: Int
        switch DeviceTarget(target) {
        case nil: throw ActionError(.invalidRequest, DeviceTarget.problem(with: target))
        case .group(let number): group = number
        case .function(let address):
            guard let device = model[address] else {
                if absentAllowed { return [address] }
                throw ActionError(.invalidRequest, "no PCI function \(address) in \(model.source)")
            }
            guard let number = device.iommuGroup else { return [address] }
            group = number
        }
        let members = model.devices.filter { $0.iommuGroup == group && !$0.isBridge }.map(\.address)
        guard !members.isEmpty else { throw ActionError(.invalidRequest, "no IOMMU group \(group) in \(model.source)") }
        return members.sorted()
    }

    /// The configuration with `addresses` added (`ids`: also `options vfio-pci ids=`).
    /// Refuses `ids` when a function outside `addresses` has the same vendor:device, since
    /// vfio-pci would take it too.
    /// Refuses, without `force`, a function the host runs on (`HostFacts.hostDependencies`: the
    /// root file system's disk, the default route's NIC, the boot display), as `vfioctl bind`
    /// does: at the next boot it would go to vfio-pci before the host could use it.
    public func adding(
        _ addresses: [PCIAddress], ids: Bool, force: Bool = false, to configuration: EarlyBindConfiguration
    ) throws -> EarlyBindConfiguration {
        let needed = model.facts.hostDependencies.filter { addresses.contains($0.address) }
        if !force, !needed.isEmpty {
            throw ActionError(
                .invalidRequest,
                needed.map { "\($0.address) is what the host runs on (\($0.kind.rawValue): \($0.detail))" }
                    .joined(separator: "; ")
                    + ": early-binding it would give it to vfio-pci at the next boot, before the host can use it; "
                    + "nothing was changed (--force if the host no longer needs it)")
        }
        let index = try moduleIndex()
        var entries = configuration.entries.filter { !addresses.contains($0.address) }
        for address in addresses {
            guard let device = model[address] else {
                throw ActionError(.invalidRequest, "no PCI function \(address) in \(model.source)")
            }
            var entryIDs: String?
            if ids {
                let bound = Set(addresses + configuration.entries.map(\.address))
                let others = model.devices.filter { $0.ids == device.ids && !bound.contains($0.address) }
                guard others.isEmpty else {
                    throw ActionError(
                        .invalidRequest,
                        "vfio-pci ids=\(device.ids) would take every function with those ids, and "
                            + others.map { "\($0.address)" + ($0.driver.map { " (on \($0))" } ?? "") }.joined(
                                separator: ", ")
                            + " share them with \(address): leave out --ids (the udev rule binds by address)"
                            + " or early-bind those too; nothing was changed")
                }
                if index?.presence(of: "vfio_pci") == .builtin {
                    throw ActionError(
                        .invalidRequest,
                        "vfio-pci is built into this kernel: `options vfio-pci ids=` in modprobe.d never reaches it; "
                            + "add vfio-pci.ids=\(device.ids) to the kernel command line instead, or leave out --ids "
                            + "(the udev rule binds by address); nothing was changed")
                }
                entryIDs = device.ids
            }
            let host = try hostDriver(of: device, index: index)
            if let host, !ModuleName.isValid(host) {
                throw ActionError(
                    .invalidRequest,
                    "\(address)'s host driver name \(host.debugDescription) cannot stand in a modprobe.d line; nothing was changed"
                )
            }
            entries.append(
                EarlyBindEntry(
                    address: address, hostDriver: host,
                    hostDriverIsModule: host.map { index?.presence(of: $0) == .module } ?? false, ids: entryIDs))
        }
        return EarlyBindConfiguration(entries: entries)
    }

    /// The configuration without the entries of `addresses`; an error when none has one.
    public func removing(_ addresses: [PCIAddress], from configuration: EarlyBindConfiguration) throws
        -> EarlyBindConfiguration
    {
        guard configuration.entries.contains(where: { addresses.contains($0.address) }) else {
            throw ActionError(
                .invalidRequest,
                "\(addresses.map(\.description).joined(separator: ", ")) \(addresses.count == 1 ? "is" : "are") not early-bound; "
                    + "`vfioctl early-bind --list` shows what is")
        }
        let remaining = configuration.entries.filter { !addresses.contains($0.address) }
        // An `ids=` entry stays right only while every function with those ids is early-bound.
        let bound = Set(remaining.map(\.address))
        for entry in remaining {
            guard let ids = entry.ids else { continue }
            let released = addresses.filter { model[$0]?.ids == ids && !bound.contains($0) }
            if !released.isEmpty {
                throw ActionError(
                    .invalidRequest,
                    "\(entry.address) keeps `options vfio-pci ids=\(ids)`, which would still take "
                        + released.map(\.description).joined(separator: ", ")
                        + " at boot: remove \(entry.address) too (or add it again without --ids); nothing was changed")
            }
        }
        return EarlyBindConfiguration(entries: remaining)
    }

    /// Writes both files for `configuration` (removing those it leaves empty); returns the
    /// paths that changed. Call inside `session.run`.
    public func write(_ configuration: EarlyBindConfiguration) throws -> [String] {
        let files = [
            (BootFiles.earlyBindRules, configuration.rules), (BootFiles.earlyBindModprobe, configuration.modprobe),
        ]
        // Every file is checked before the first one changes: a hostile one stops everything.
        for (path, _) in files { _ = try BootFiles.ownedFile(path, roots: session.roots) }
        var changed: [String] = []
        for (path, text) in files where try session.replaceConfigFile(path, with: text) { changed.append(path) }
        return changed
    }

    /// The driver that binds `device` when vfio-pci does not: its driver now unless that is a
    /// VFIO driver, else the first module whose alias matches its `modalias`.
    func hostDriver(of device: PCIDevice, index: KernelModuleIndex?) throws -> String? {
        if let driver = device.driver, !driver.contains("vfio") {
            // A driver's name is not always its module's (xhci_hcd is in xhci_pci): the driver's
            // `module` link names the module when it has one.
            if let module = try session.roots.sys.readLink("bus/pci/drivers/\(driver)/module")?.split(separator: "/")
                .last
            {
                return KernelModuleIndex.normalized(String(module))
            }
            return KernelModuleIndex.normalized(driver)
        }
        guard let index,
            let modalias = try session.roots.sys.readText("bus/pci/devices/\(device.address)/modalias")
        else { return nil }
        return index.drivers(forModalias: modalias).first { !$0.contains("vfio") }
    }

    func moduleIndex() throws -> KernelModuleIndex? {
        guard let release = try KernelModuleIndex.release(of: session.roots) else { return nil }
        return try KernelModuleIndex(top: top, release: release)
    }
}

extension BootFiles {
    /// A file vfioctl owns: missing, or a regular file with vfioctl's header (UTF-8 text).
    /// A link, a FIFO, a directory or someone else's file is refused, naming it.
    public static func ownedFile(_ path: String, roots: HostRoots) throws -> HostWriter.FileState {
        let state = try HostWriter.fileState(path, in: roots.top, limit: InputLimits.configurationFileBytes)
        if case .file(let bytes, _) = state {
            guard let text = String(validating: bytes, as: UTF8.self), BootFiles.isOwned(text) else {
                throw ActionError(
                    .invalidRequest,
                    "\(roots.top.directory.display(path)) was not written by vfioctl (no \"# Written by vfioctl\" first line); "
                        + "move it away and run the command again (nothing was changed)")
            }
        }
        return state
    }
}

extension HostSession {
    /// Makes `path` hold `text` (nil: no file), journaling what it held before; false when it
    /// already does.
    public func replaceConfigFile(_ path: String, with text: String?) throws -> Bool {
        let before = try BootFiles.ownedFile(path, roots: roots)
        let after: HostWriter.FileState
        switch (before, text) {
        case (.missing, nil): return false
        case (.file(let bytes, _), let text?) where bytes == Array(text.utf8): return false
        case (_, let text?): after = .file(Array(text.utf8), mode: BootFiles.mode)
        case (_, nil): after = .missing
        }
        switch before {
        case .missing: try journal(.configFile(path: path, previous: nil, mode: BootFiles.mode))
        case .file(let bytes, let mode):
            try journal(.configFile(path: path, previous: String(decoding: bytes, as: UTF8.self), mode: mode))
        }
        try writer.replaceFile(path, with: after, in: roots.top)
        return true
    }
}
