import HostAccess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The host-wide lock every action takes (`flock` on `STATE/lock`), so two vfioctl runs
/// (a CLI and the hook, say) never interleave their writes. Released on deinit.
public final class HostLock {
    private let fd: Int32

    public init(stateDirectory: String) throws {
        try StateDirectory(path: stateDirectory).create()
        let path = FilePath(stateDirectory).appending("lock")
        // Opened in place, never replaced: a lock on a renamed-over file locks nothing.
        fd = path.withPlatformString { open($0, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else {
            throw ActionError(
                .cannotJournal, "cannot open the lock \(path): \(Errno(rawValue: errno)); nothing was changed")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw ActionError(
                .busy, "another vfioctl action holds \(path); wait for it, or run `vfioctl recover` if it crashed")
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
