import HostAccess
import PCIModel
import SystemPackage

/// Sets a function's `reset_method` (Linux ≥ 5.15, Documentation/ABI/testing/sysfs-bus-pci)
/// inside a host session: the list before is journaled, so a failure or `vfioctl recover`
/// writes it back.
///
/// The kernel's `reset_method_store()` probes every named method and fails the whole write
/// with EINVAL when one is unsupported, keeping the old list; that error is reported as it
/// came, with what to do.
public struct ResetMethodChanger {
    /// What a change did (or, in a dry run, would do).
    public struct Change: Sendable {
        public var setting: ResetMethodSetting
        /// `reset_method` before the write.
        public var before: [ResetMethod]
        /// `reset_method` read back after the write; nil in a dry run.
        public var after: [ResetMethod]?
    }

    public let session: HostSession

    public init(session: HostSession) { self.session = session }

    private var sys: RootedFileSystem { session.roots.sys }

    static func path(_ address: PCIAddress) -> String { "bus/pci/devices/\(address)/reset_method" }

    /// The function's `reset_method` now; nil when the file is absent.
    /// - Throws: `ActionError.invalidRequest` when there is no such function, the file is not a
    ///   regular file (a link, a FIFO), or it names methods vfioctl does not know.
    public func current(_ address: PCIAddress) throws -> [ResetMethod]? {
        guard sys.exists("bus/pci/devices/\(address)") else {
            throw ActionError(.invalidRequest, "no PCI function \(address) on this host; `vfioctl inspect` lists them")
        }
        let relative = Self.path(address)
        guard sys.exists(relative) else { return nil }
        guard sys.isRegularFile(relative) else {
            throw ActionError(
                .invalidRequest,
                "\(try sys.resolve(relative)) is not a regular file (a link or a FIFO, not the kernel's attribute): nothing was changed"
            )
        }
        guard let text = try sys.readText(relative) else { return nil }
        let parsed = ResetMethod.parseList(text)
        guard parsed.unknown.isEmpty else {
            throw ActionError(
                .invalidRequest,
                "\(try sys.resolve(relative)) names reset methods vfioctl does not know (\(parsed.unknown.joined(separator: " ").prefix(80))): nothing was changed"
            )
        }
        return parsed.methods
    }

    /// Validates `setting` against the function's current list, journals that list and writes.
    public func apply(_ setting: ResetMethodSetting) throws -> Change {
        let before = try current(setting.address)
        do {
            try setting.validate(current: before)
        } catch {
            throw ActionError(.invalidRequest, error.description)
        }
        let previous = before ?? []
        try session.journal(.resetMethod(setting.address, previous: previous))
        try write(setting.kernelText, to: setting.address)
        return Change(setting: setting, before: previous, after: session.dryRun ? nil : try current(setting.address))
    }

    /// Writes `methods` back (empty: the kernel's "disable all", as it was): the undo of `apply`.
    /// Nothing is written when the list already reads so: a write the kernel refused with
    /// EINVAL kept the old list, and writing that list again can fail the same way (the lab's
    /// stale `bus` on function 0 of a multifunction device no longer probes), which would
    /// leave a journal no `recover` could ever finish.
    func restore(_ address: PCIAddress, methods: [ResetMethod]) throws {
        if !session.dryRun, (try? current(address)) == methods { return }
        try write(methods.map(\.rawValue).joined(separator: " "), to: address)
    }

    private func write(_ text: String, to address: PCIAddress) throws {
        let failure: HostAccessError
        do {
            try session.writer.write(text, to: Self.path(address), in: sys)
            return
        } catch {
            failure = error
        }
        guard failure.errno == Errno.invalidArgument else { throw failure }
        throw ActionError(
            .invalidRequest,
            "the kernel refused \"\(text)\" for \(address)'s reset_method (EINVAL): it probed a method this function does not support now (device_specific needs its module, e.g. vendor-reset, loaded first); dmesg names the method",
            cause: failure)
    }
}
