/// Every size limit on what vfioctl reads, in one place (listed in Docs/security.md). A file
/// over its limit is refused with a message naming the file and the limit, never cut short.
public enum InputLimits {
    /// A sysfs or procfs attribute (`driver_override`, `numa_node`, `sriov_numvfs`, …): the
    /// kernel's attributes are at most one page.
    public static let attributeBytes = 64 << 10
    /// PCI config space: 4096 bytes of extended configuration space (PCIe).
    public static let configSpaceBytes = 4096
    /// A configuration file: quirk files, hook.toml, aerd.toml, desired-state files, and
    /// procfs tables such as `/proc/iomem` or `/proc/cmdline`.
    public static let configurationFileBytes = 1 << 20
    /// A kernel table that grows with the machine: `/proc/cpuinfo` (about 1.5 KiB per CPU),
    /// `/proc/mounts`, `/proc/net/route`, `modules.dep` and `modules.builtin`.
    public static let kernelTableBytes = 16 << 20
    /// One file inside a snapshot archive.
    public static let snapshotFileBytes = 4 << 20
    /// All files of a snapshot archive together, unpacked.
    public static let snapshotTotalBytes = 512 << 20
    /// Entries (files, directories, links) in a snapshot archive.
    public static let snapshotEntries = 1_000_000
    /// An `lspci -xxxx` dump.
    public static let lspciDumpBytes = 64 << 20
}
