import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a helper program (only `tar` today) with posix_spawn and collects its stderr.
/// Kept free of Foundation so the CLI stays small in memory.
enum ChildProcess {
    struct Result {
        var status: Int32
        var standardError: String
    }

    static func run(_ arguments: [String]) throws(HostAccessError) -> Result {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw .system(Errno(rawValue: errno), "pipe", path: arguments[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw HostAccessError(
                .notFound, "cannot run \(arguments[0]): \(Errno(rawValue: spawned)); is it installed?",
                syscall: "posix_spawn", errno: Errno(rawValue: spawned))
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, 4096) }
            if n > 0 { output.append(contentsOf: buffer[0..<n]) } else if n == 0 || errno != EINTR { break }
        }
        close(pipeEnds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitCode, standardError: String(decoding: output, as: UTF8.self))
    }

    /// A running helper whose standard output is read through `output`.
    struct Reading {
        let pid: pid_t
        let output: Int32

        /// Waits for the helper and returns its exit status (128 + signal when killed).
        func wait() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    /// Starts `arguments` with `standardInput` as its stdin and a pipe as its stdout (stderr
    /// goes to /dev/null): `gzip -dc` for the snapshot reader.
    static func spawnReading(_ arguments: [String], standardInput: Int32) throws(HostAccessError) -> Reading {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw .system(Errno(rawValue: errno), "pipe", path: arguments[0]) }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw HostAccessError(
                .notFound, "cannot run \(arguments[0]): \(Errno(rawValue: spawned)); is it installed?",
                syscall: "posix_spawn", errno: Errno(rawValue: spawned))
        }
        return Reading(pid: pid, output: pipeEnds[0])
    }
}
