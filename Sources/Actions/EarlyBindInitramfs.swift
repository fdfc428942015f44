import HostAccess
import PCIModel

/// Whether the early binding also holds in the initramfs: when a host driver is in the image
/// (`boot/initrd.img-RELEASE`), udev in the initramfs loads it before the root file system's
/// rules exist, so the rule file and the softdep must be in the image too (Debian's initramfs
/// udev hook copies every `/etc/udev/rules.d/*.rules`, mkinitramfs every
/// `/etc/modprobe.d/*.conf`): `update-initramfs -u` after every change.
public struct EarlyBindInitramfs: Sendable {
    public var release: String?
    /// The image's path below the root; nil when there is none.
    public var image: String?
    /// Host drivers of entries that are in the image.
    public var driversInImage: [String] = []
    /// Host drivers built into the kernel: they bind before udev runs, the rule cannot win.
    public var builtinDrivers: [String] = []
    /// vfioctl's files the configuration has that the image lacks, or (no entries left) that
    /// the image still has.
    public var missing: [String] = []
    public var stale: [String] = []
    /// vfioctl's files this run changed while the image holds a copy of them or a host driver:
    /// the image keeps the old text until it is rebuilt (the check lists names, not contents).
    public var changedSinceImage: [String] = []

    /// Whether `update-initramfs -u` must run for the configuration to hold at boot.
    public var needsRebuild: Bool { !missing.isEmpty || !stale.isEmpty || !changedSinceImage.isEmpty }

    /// Checks `configuration` against the root's image; `changed` are the files (below the
    /// root) this run rewrote or removed.
    public init(roots: HostRoots, configuration: EarlyBindConfiguration, changed: [String] = []) throws {
        release = try KernelModuleIndex.release(of: roots)
        guard let release else { return }
        let index = try KernelModuleIndex(top: roots.top, release: release)
        builtinDrivers = Set(
            configuration.entries.compactMap(\.hostDriver).filter { index.presence(of: $0) == .builtin }
        ).sorted()
        let path = InitramfsImage.path(release: release)
        guard let listing = try InitramfsImage(top: roots.top, relative: path) else { return }
        image = path
        driversInImage = Set(
            configuration.entries.compactMap(\.hostDriver).filter { driver in
                index.path(of: driver).map { listing.containsModule(release: release, relative: $0) } ?? false
            }
        ).sorted()
        let files = [
            (BootFiles.earlyBindRulesInInitramfs(), configuration.rules != nil),
            (BootFiles.earlyBindModprobe, configuration.modprobe != nil),
        ]
        for (file, wanted) in files {
            let present = listing.contains(file)
            if wanted, !present, !driversInImage.isEmpty { missing.append(file) }
            if !wanted, present { stale.append(file) }
        }
        let inImage = Set(files.map(\.0).filter { listing.contains($0) })
        changedSinceImage = changed.filter { path in
            let file = path == BootFiles.earlyBindRules ? BootFiles.earlyBindRulesInInitramfs() : path
            return (inImage.contains(file) || !driversInImage.isEmpty) && !missing.contains(file)
                && !stale.contains(file)
        }
    }

    /// What the user must know, one line each.
    public var advice: [String] {
        var lines: [String] = []
        for driver in builtinDrivers {
            lines.append(
                "\(driver) is built into the kernel: it binds during boot before udev runs, so the rule cannot beat it; "
                    + "bind after boot (`vfioctl bind`, or [[bind]] in `vfioctl apply` before libvirtd)")
        }
        guard let image else { return lines }
        if !driversInImage.isEmpty {
            lines.append(
                "\(driversInImage.joined(separator: ", ")) \(driversInImage.count == 1 ? "is" : "are") in the initramfs "
                    + "(\(image)): the rule and the softdep must be in it too")
        }
        if !missing.isEmpty {
            lines.append("missing from \(image): \(missing.joined(separator: ", ")): run update-initramfs -u")
        }
        if !stale.isEmpty {
            lines.append("\(image) still holds \(stale.joined(separator: ", ")): run update-initramfs -u")
        }
        if !changedSinceImage.isEmpty {
            lines.append(
                "\(image) holds the old \(changedSinceImage.joined(separator: ", ")): run update-initramfs -u")
        }
        return lines
    }
}
