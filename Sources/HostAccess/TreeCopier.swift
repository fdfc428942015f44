import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Copies single paths from a source root into a destination root, keeping sysfs's shape:
/// a symlink met on the way is recreated as the same relative link and then followed, so
/// `bus/pci/devices/X/config` lands in `devices/pci…/X/config` with the link beside it.
struct TreeCopier {
    let source: FilePath
    let destination: FilePath

    /// Copies `absolute` (a path below `source`): files by content, links as links (with the
    /// directory they point to), directories as empty directories.
    func copy(absolute: String) throws(HostAccessError) {
        let path = FilePath(absolute)
        guard path.starts(with: source) else { return }
        var relative = path
        _ = relative.removePrefix(source)
        try materialize(relative.components.map { $0.string }, depth: 0)
    }

    @discardableResult
    private func materialize(_ components: [String], depth: Int) throws(HostAccessError) -> [String]? {
        guard depth < 16 else { return nil }
        var canonical: [String] = []
        for (index, name) in components.enumerated() {
            let isLast = index == components.count - 1
            let here = canonical + [name]
            let sourcePath = join(source, here)
            switch FileTree.kind(of: sourcePath) {
            case .other where isLast && FileTree.isCharacterDevice(sourcePath):
                // A device node (/dev/iommu, /dev/vfio/N) matters by its existence only: the
                // snapshot holds an empty file in its place, never a node.
                try FileTree.writeFile(join(destination, here), [])
                return here
            case .missing, .other:
                return nil
            case .directory:
                try FileTree.makeDirectories(join(destination, here))
                canonical = here
            case .file:
                guard isLast else { return nil }
                try copyFile(sourcePath, to: join(destination, here))
                return here
            case .link:
                let target = try RootedFileSystem(root: source).readLink(here.joined(separator: "/")) ?? ""
                guard let resolved = resolve(target, from: canonical) else { return nil }
                try FileTree.makeLink(join(destination, here), to: target)
                // Bring along the directory the link names (a driver, a group, a parent
                // device), so the link is not dangling in the copy.
                if isLast {
                    if FileTree.kind(of: join(source, resolved)) == .directory {
                        try materialize(resolved, depth: depth + 1)
                    }
                    return here
                }
                guard let followed = try materialize(resolved, depth: depth + 1) else { return nil }
                canonical = followed
            }
        }
        return canonical
    }

    /// Applies a link target to the directory holding the link; nil when it leaves the root.
    private func resolve(_ target: String, from directory: [String]) -> [String]? {
        var result = target.hasPrefix("/") ? [] : directory
        for part in target.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                guard !result.isEmpty else { return nil }
                result.removeLast()
            default: result.append(String(part))
            }
        }
        return result
    }

    private func join(_ base: FilePath, _ components: [String]) -> FilePath {
        var path = base
        for component in components { path.append(component) }
        return path
    }

    private func copyFile(_ from: FilePath, to: FilePath) throws(HostAccessError) {
        // sysfs attributes report a size of 4096 whatever they hold: read, don't stat. Read
        // through the source root, so nothing outside the tree lands in a snapshot.
        var relative = from
        _ = relative.removePrefix(source)
        let bytes =
            try RootedFileSystem(root: source).readBytes(relative.string, limit: InputLimits.snapshotFileBytes) ?? []
        try FileTree.writeFile(to, bytes)
    }
}
