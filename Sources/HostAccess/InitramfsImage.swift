import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The names inside an initramfs image (`boot/initrd.img-RELEASE` below a root), as Debian's
/// `lsinitramfs` (initramfs-tools-core) lists them. The image is opened through the root
/// resolver and handed to lsinitramfs as its standard input, so a link out of the root or a
/// FIFO is refused like any other host file.
public struct InitramfsImage: Sendable {
    /// The image's path below the root.
    public let path: String
    /// Every path in the image, without a leading `./` or `/`.
    public let names: Set<String>

    /// `boot/initrd.img-RELEASE`.
    public static func path(release: String) -> String { "boot/initrd.img-\(release)" }

    /// Lists the image at `relative` below `top`; nil when there is none.
    public init?(top: RootedFileSystem, relative: String) throws(HostAccessError) {
        guard let fd = try top.directory.openRegularFile(relative, flags: O_RDONLY) else { return nil }
        defer { close(fd) }
        // Non-blocking only mattered for the open; lsinitramfs reads the file as usual.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        let child = try ChildProcess.spawnReading(["lsinitramfs", "/dev/stdin"], standardInput: fd)
        let output = try RootedFileSystem.readAll(
            fd: child.output, limit: InputLimits.kernelTableBytes, path: top.directory.display(relative))
        let status = child.wait()
        guard status == 0 else {
            throw HostAccessError(
                .ioError, "lsinitramfs cannot read \(top.directory.display(relative)) (exit status \(status))",
                path: top.directory.display(relative).string)
        }
        path = relative
        var names: Set<String> = []
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            var name = Substring(line)
            while name.hasPrefix("./") { name = name.dropFirst(2) }
            while name.hasPrefix("/") { name = name.dropFirst() }
            names.insert(String(name))
        }
        self.names = names
    }

    /// Whether the image holds a file at `path` or below `lib/` or `usr/lib/` under either
    /// name (merged /usr images keep `lib` as a link to `usr/lib`).
    public func contains(_ path: String) -> Bool {
        if names.contains(path) { return true }
        if path.hasPrefix("lib/") { return names.contains("usr/" + path) }
        if path.hasPrefix("usr/lib/") { return names.contains(String(path.dropFirst(4))) }
        return false
    }

    /// Whether the image holds the module file `relative` (below `lib/modules/RELEASE/`).
    public func containsModule(release: String, relative: String) -> Bool {
        contains("lib/modules/\(release)/\(relative)")
    }
}
