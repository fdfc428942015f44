import HostAccess
import QuirkDB

/// `/etc/vfioctl/hook.toml`: how the libvirt hook sees and prepares the host.
///
/// ```toml
/// root = "/"                    # host root (a --root tree); or snapshot = "FILE" to check against
/// state-dir = "/run/vfioctl"    # registrations for release and vfio-aerd
/// log = "/var/log/vfioctl-hook.log"   # one line per hook call (optional)
/// hugepages = "check"           # check | reserve | ignore
/// create-vfs = false            # create VFs that hostdevs name but the host lacks
/// bind-unmanaged = false        # bind unmanaged hostdevs' groups to vfio-pci
/// ```
struct HookConfig {
    var root: String?
    var snapshot: String?
    var stateDirectory = "/run/vfioctl"
    var log: String?
    var hugepages = HugepagesMode.check
    /// Create the VFs hostdevs name but the host does not have yet.
    var createVFs = false
    /// Bind unmanaged hostdevs' groups to vfio-pci (libvirt binds managed ones itself).
    var bindUnmanaged = false

    static let defaultPath = "/etc/vfioctl/hook.toml"

    /// Reads the file; a missing file means the defaults (the live host).
    static func load(_ path: String) throws -> HookConfig {
        var config = HookConfig()
        guard let text = try readTextFile(path) else { return config }
        let table: TOMLTable
        do {
            table = try TOMLParser.parse(text)
        } catch {
            throw CLIError("\(path):\(error.line): \(error.message)")
        }
        for entry in table.entries {
            if entry.key == "create-vfs" || entry.key == "bind-unmanaged" {
                guard case .bool(let flag) = entry.value else {
                    throw CLIError("\(path):\(entry.line): \(entry.key) must be true or false")
                }
                if entry.key == "create-vfs" { config.createVFs = flag } else { config.bindUnmanaged = flag }
                continue
            }
            guard case .string(let value) = entry.value else {
                throw CLIError("\(path):\(entry.line): \(entry.key) must be a string")
            }
            switch entry.key {
            case "root": config.root = value
            case "snapshot": config.snapshot = value
            case "state-dir": config.stateDirectory = value
            case "log": config.log = value
            case "hugepages":
                guard let mode = HugepagesMode(rawValue: value) else {
                    throw CLIError("\(path):\(entry.line): hugepages must be check, reserve or ignore")
                }
                config.hugepages = mode
            default:
                throw CLIError(
                    "\(path):\(entry.line): unknown key \(entry.key); known: root, snapshot, state-dir, log, hugepages, create-vfs, bind-unmanaged"
                )
            }
        }
        return config
    }
}
