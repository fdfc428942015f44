import HostAccess
import PCIModel

/// The sysfs steps that move one function between drivers, each one write:
/// `driver_override` (since 3.15), `driver/unbind`, `drivers_probe` (or a driver's `bind`).
struct DriverSwitch {
    let sys: RootedFileSystem
    let writer: HostWriter

    func currentDriver(_ address: PCIAddress) throws(HostAccessError) -> String? {
        try sys.readLink("bus/pci/devices/\(address)/driver").flatMap { $0.split(separator: "/").last.map(String.init) }
    }

    /// `vfio-dev/vfioN` of the function: the VFIO core's mark of a VFIO driver (vfio-pci or
    /// a variant; Linux ≥ 6.1). nil when absent.
    func vfioDeviceName(_ address: PCIAddress) throws(HostAccessError) -> String? {
        try sys.list("bus/pci/devices/\(address)/vfio-dev")?.first(where: PCIDevice.isVFIODeviceNodeName)
    }

    /// Who holds the function now (`VFIOOwnership`: driver and `vfio-dev/` together).
    func ownership(_ address: PCIAddress) throws(HostAccessError) -> VFIOOwnership {
        VFIOOwnership(driver: try currentDriver(address), vfioDeviceName: try vfioDeviceName(address))
    }

    /// `driver_override` as the kernel shows it; "(null)" means none.
    func currentOverride(_ address: PCIAddress) throws(HostAccessError) -> String? {
        guard let text = try sys.readText("bus/pci/devices/\(address)/driver_override"), !text.isEmpty, text != "(null)"
        else {
            return nil
        }
        return text
    }

    /// Refuses, before anything is journaled or written, a function whose `driver_override`
    /// is not a plain attribute file (a link or FIFO planted in a tree): nothing could undo a
    /// write through it.
    func checkWritable(_ address: PCIAddress) throws {
        let path = "bus/pci/devices/\(address)/driver_override"
        guard sys.isRegularFile(path) else {
            throw ActionError(
                .invalidRequest,
                "\(try sys.resolve(path)) is missing or not a regular file (a symbolic link or FIFO?); a kernel attribute is a plain file: nothing was changed"
            )
        }
    }

    /// Moves `address` to `target`: override, unbind from the current driver, probe. Throws
    /// when the kernel did not bind the target.
    func bind(_ address: PCIAddress, to target: String) throws {
        let base = "bus/pci/devices/\(address)"
        try writer.write(target, to: base + "/driver_override", in: sys)
        if try currentDriver(address) != nil {
            try writer.write(address.description, to: base + "/driver/unbind", in: sys)
        }
        try writer.write(address.description, to: "bus/pci/drivers_probe", in: sys)
        if writer.dryRun { return }
        let now = try currentDriver(address)
        guard now == target else {
            throw ActionError(
                .failedAndRolledBack,
                "\(address) is on \(now ?? "no driver") after probing, not \(target) (is the \(target) module loaded?)")
        }
        // Bound is not enough: the group is VFIO's only once the VFIO core has the function
        // (vfio-dev/vfioN; VFIOOwnership). pci-stub is the one non-VFIO target a bind accepts.
        let held = try ownership(address)
        guard held.isVFIO || (target == VFIOOwnership.pciStub && held == .stub) else {
            throw ActionError(
                .failedAndRolledBack,
                "\(address) is on \(target), but the kernel made no vfio-dev/vfioN for it: \(target) is not a VFIO driver (use vfio-pci or a vfio-pci variant such as mlx5_vfio_pci)"
            )
        }
    }

    /// Gives `prior.address` back its previous driver and override (a rollback or restore).
    func revert(_ prior: PriorDriver) throws {
        let base = "bus/pci/devices/\(prior.address)"
        // Writing a newline clears driver_override.
        try writer.write(prior.override ?? "", to: base + "/driver_override", in: sys)
        let current = try currentDriver(prior.address)
        if current != nil, current != prior.driver {
            try writer.write(prior.address.description, to: base + "/driver/unbind", in: sys)
        }
        guard let driver = prior.driver, current != driver else { return }
        if sys.exists("bus/pci/drivers/\(driver)/bind") {
            try writer.write(prior.address.description, to: "bus/pci/drivers/\(driver)/bind", in: sys)
        } else {
            try writer.write(prior.address.description, to: "bus/pci/drivers_probe", in: sys)
        }
    }
}
