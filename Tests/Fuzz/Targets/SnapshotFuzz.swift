import HostAccess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The snapshot reader (`Snapshot.unpackTar`, what `inspect --snapshot` runs on a stranger's
/// archive after gzip): the input is the tar stream, unpacked into a fresh directory. An
/// archive it accepts must have produced only regular files, directories and symbolic links
/// there, and nothing is ever created outside it (each entry is placed with O_NOFOLLOW).
enum SnapshotFuzz {
    /// One scratch directory per fuzzing process, on tmpfs (/dev/shm) where there is one:
    /// each input is unpacked into `tree` below it, which is emptied afterwards.
    static let scratch: FilePath? = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/vfioctl-fuzz-snapshot-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        let directory = FilePath(String(cString: made))
        atexit { if let scratch = SnapshotFuzz.scratch { FileTree.removeTree(scratch) } }
        return directory
    }()

    static func run(_ bytes: [UInt8]) {
        guard let scratch else {
            fuzzCheck(false, "no scratch directory")
            return
        }
        let input = scratch.appending("input").string
        let fd = open(input, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { return }
            written += n
        }
        lseek(fd, 0, SEEK_SET)
        let tree = scratch.appending("tree")
        guard mkdir(tree.string, 0o700) == 0 else { return }
        defer { FileTree.removeTree(tree) }
        do {
            try Snapshot.unpackTar(from: fd, into: tree, name: "fuzz.tar")
        } catch {
            fuzzCheck(
                error.code == .invalidInput || error.code == .tooLarge, "unexpected error \(error.code): \(error)")
            return
        }
        fuzzCheck(onlyFilesDirectoriesAndLinks(tree, depth: 0), "an entry other than a file, directory or link")
    }

    static func onlyFilesDirectoriesAndLinks(_ path: FilePath, depth: Int) -> Bool {
        guard depth < 512, let stream = opendir(path.string) else { return true }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            let child = path.appending(name)
            guard lstat(child.string, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG, S_IFLNK: continue
            case S_IFDIR: if !onlyFilesDirectoriesAndLinks(child, depth: depth + 1) { return false }
            default: return false
            }
        }
        return true
    }
}
