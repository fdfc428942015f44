#if canImport(Glibc)
    import Glibc
#endif

/// What depmod wrote for one kernel release below a root (`lib/modules/RELEASE/`), read through
/// the root resolver so it works on `--root` trees and snapshots: which driver a device's
/// `modalias` loads (`modules.alias`, `modules.builtin.alias`, matched with `fnmatch(3)` as
/// libkmod does) and whether a driver is a loadable module (`modules.dep`) or built in
/// (`modules.builtin`). Names compare with `-` and `_` as one, as kmod does.
public struct KernelModuleIndex: Sendable {
    /// How a driver is present in this kernel.
    public enum Presence: String, Sendable {
        /// A `.ko` file listed in `modules.dep`: udev loads it by modalias (80-drivers.rules).
        case module
        /// Listed in `modules.builtin`: it probes inside the kernel, before udev sees the device.
        case builtin
        /// Neither (an out-of-tree driver, or the index is missing).
        case unknown
    }

    public let release: String
    /// `kernel/drivers/…/NAME.ko…` paths by normalized module name.
    private let modulePaths: [String: String]
    private let builtins: Set<String>
    /// (pattern, module) pairs, in file order.
    private let aliases: [(pattern: String, module: String)]

    /// Reads the index of `release` below `top` (the root). Missing files make an empty index.
    public init(top: RootedFileSystem, release: String) throws(HostAccessError) {
        self.release = release
        let base = "lib/modules/\(release)/"
        func lines(_ name: String) throws(HostAccessError) -> [Substring] {
            guard let text = try top.readText(base + name, limit: InputLimits.kernelTableBytes) else { return [] }
            return text.split(separator: "\n")
        }
        var paths: [String: String] = [:]
        for line in try lines("modules.dep") {
            guard let path = line.split(separator: ":", maxSplits: 1).first else { continue }
            paths[Self.moduleName(ofPath: String(path))] = String(path)
        }
        modulePaths = paths
        builtins = Set(try lines("modules.builtin").map { Self.moduleName(ofPath: String($0)) })
        var aliases: [(String, String)] = []
        for line in try lines("modules.alias") + lines("modules.builtin.alias") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == "alias" else { continue }
            aliases.append((String(fields[1]), Self.normalized(String(fields[2]))))
        }
        self.aliases = aliases
    }

    /// The release whose modules the root's kernel uses: `proc/sys/kernel/osrelease`, else the
    /// only directory in `lib/modules`; nil when neither says.
    public static func release(of roots: HostRoots) throws(HostAccessError) -> String? {
        if let release = try roots.proc.readText("sys/kernel/osrelease"), !release.isEmpty,
            !release.contains("/"), release != "..", release != "."
        {
            return release
        }
        let releases = try roots.top.list("lib/modules") ?? []
        return releases.count == 1 ? releases[0] : nil
    }

    /// `snd-hda-intel` and `snd_hda_intel` are one module.
    public static func normalized(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// `kernel/sound/pci/hda/snd-hda-intel.ko.xz` → `snd_hda_intel`.
    static func moduleName(ofPath path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return normalized(String(file.split(separator: ".").first ?? Substring(file)))
    }

    public func presence(of driver: String) -> Presence {
        let name = Self.normalized(driver)
        if builtins.contains(name) { return .builtin }
        if modulePaths[name] != nil { return .module }
        return .unknown
    }

    /// The module's file below `lib/modules/RELEASE/` (`kernel/drivers/…/amdgpu.ko.xz`).
    public func path(of driver: String) -> String? { modulePaths[Self.normalized(driver)] }

    /// The drivers whose aliases match `modalias` (`pci:v00001002d000073BFsv…`), in file order
    /// (vfio-pci's own `vfio_pci:…` aliases never match a `pci:` modalias).
    public func drivers(forModalias modalias: String) -> [String] {
        var found: [String] = []
        for (pattern, module) in aliases where !found.contains(module) {
            if fnmatch(pattern, modalias, 0) == 0 { found.append(module) }
        }
        return found
    }
}
