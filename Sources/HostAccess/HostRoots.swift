import SystemPackage

/// Where vfioctl finds the host: the live machine (`/`) or a directory holding `sys/` and
/// `proc/` (a `--root` tree or an unpacked snapshot). Library code never assumes `/`.
public struct HostRoots: Sendable {
    /// The directory that holds `sys`, `proc`, `dev` and `lib/modules`.
    public var base: FilePath

    /// `base` may be relative; it is made absolute against the working directory, since
    /// libpci and snapshot copies need absolute paths.
    public init(base: FilePath) {
        self.base = base.isAbsolute ? base : FilePath(currentDirectory()).pushing(base).lexicallyNormalized()
    }

    /// A root given as a path string (a `--root` option).
    public init(path: String) { self.init(base: FilePath(path)) }

    /// The running machine. Reads only, in everything this layer does.
    public static let live = HostRoots(base: "/")

    public var isLive: Bool { base == "/" }
    public var sys: RootedFileSystem { RootedFileSystem(root: base.appending("sys")) }
    public var proc: RootedFileSystem { RootedFileSystem(root: base.appending("proc")) }
    public var dev: RootedFileSystem { RootedFileSystem(root: base.appending("dev")) }
    public var top: RootedFileSystem { RootedFileSystem(root: base) }
}
