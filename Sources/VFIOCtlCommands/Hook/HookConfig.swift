import ConfigFile
import GuestCheck
import HostAccess

/// `/etc/vfioctl/hook.toml`: how the libvirt hook sees and prepares the host.
///
/// ```toml
/// root = "/"                    # host root (a --root tree); or snapshot = "FILE" to check against
/// state-dir = "/run/vfioctl"    # registrations for release and vfio-aerd
/// log = "/var/log/vfioctl-hook.log"   # one line per hook call (optional)
/// hugepages = "check"           # check | reserve | ignore
/// create-vfs = false            # create VFs that hostdevs name but the host lacks
/// bind-unmanaged = false        # bind unmanaged hostdevs' groups to vfio-pci
/// bus-reset = "refuse"          # refuse | warn: a bus-reset-only function whose reset also
///                               # reaches host-used or other guests' functions
/// desired-state = "/etc/vfioctl/desired.toml"   # its [[expect-group]] entries guard starts
/// ```
struct HookConfig {
    var root: String?
    var snapshot: String?
    var stateDirectory = "/run/vfioctl"
    var log: String?
    var hugepages = GuestStart.HugepagesMode.check
    /// Create the VFs hostdevs name but the host does not have yet.
    var createVFs = false
    /// Bind unmanaged hostdevs' groups to vfio-pci (libvirt binds managed ones itself).
    var bindUnmanaged = false
    /// A function reset only by a bus reset that reaches the host's or another guest's functions.
    var busReset = BusResetPolicy.refuse
    /// A desired-state file whose `[[expect-group]]` entries `prepare` checks.
    var desiredState: String?

    static let defaultPath = "/etc/vfioctl/hook.toml"

    /// Reads the file; a missing file means the defaults (the live host).
    static func load(_ path: String) throws -> HookConfig {
        var config = HookConfig()
        guard let text = try readTextFile(path) else { return config }
        let table = try ConfigTable.parse(text, file: path)
        try table.allowOnly([
            "root", "snapshot", "state-dir", "log", "hugepages", "create-vfs", "bind-unmanaged", "bus-reset",
            "desired-state",
        ])
        config.root = try table.string("root")
        config.snapshot = try table.string("snapshot")
        config.stateDirectory = try table.string("state-dir") ?? config.stateDirectory
        config.log = try table.string("log")
        if let mode = try table.string("hugepages", oneOf: GuestStart.HugepagesMode.allCases.map(\.rawValue)) {
            config.hugepages = GuestStart.HugepagesMode(rawValue: mode) ?? config.hugepages
        }
        config.createVFs = try table.bool("create-vfs") ?? config.createVFs
        config.bindUnmanaged = try table.bool("bind-unmanaged") ?? config.bindUnmanaged
        if let policy = try table.string("bus-reset", oneOf: BusResetPolicy.allCases.map(\.rawValue)) {
            config.busReset = BusResetPolicy(rawValue: policy) ?? config.busReset
        }
        config.desiredState = try table.nonEmptyString("desired-state")
        return config
    }
}
