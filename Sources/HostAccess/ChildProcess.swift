import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs helper programs (`tar` to write a snapshot, `gzip -dc` to read one) with posix_spawn.
/// Kept free of Foundation so the CLI stays small in memory.
package enum ChildProcess {
    struct Result {
        var status: Int32
        var standardError: String
    }

    /// A running helper and the read end of the pipe it writes to.
    struct Running {
        let pid: pid_t
        /// The read end of the pipe the helper writes (its stderr for `run`, its stdout for
        /// `spawnReading`).
        let output: Int32

        /// Waits for the helper and returns its exit status (128 + signal when killed).
        func wait() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    /// Runs `arguments` with stdin from /dev/null and collects its stderr.
    static func run(_ arguments: [String]) throws(HostAccessError) -> Result {
        let child = try spawn(arguments, standardInput: nil, pipeTo: 2)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(child.output, $0.baseAddress, 4096) }
            if n > 0 { output.append(contentsOf: buffer[0..<n]) } else if n == 0 || errno != EINTR { break }
        }
        close(child.output)
        return Result(status: child.wait(), standardError: String(decoding: output, as: UTF8.self))
    }

    /// Starts `arguments` with `standardInput` as its stdin and a pipe as its stdout (stderr
    /// goes to /dev/null): `gzip -dc` for the snapshot reader.
    static func spawnReading(_ arguments: [String], standardInput: Int32) throws(HostAccessError) -> Running {
        try spawn(arguments, standardInput: standardInput, pipeTo: 1)
    }

    /// Runs `arguments` as a filter: `input` on its stdin (from an unlinked temporary file, so
    /// a large input and a large output cannot block each other), its stdout collected (stderr
    /// to /dev/null): `dot -Tsvg` for `vfioctl inspect --format svg`. Throws `.notFound` when
    /// the program is not on PATH.
    package static func filter(_ arguments: [String], input: [UInt8]) throws(HostAccessError) -> (
        status: Int32, output: [UInt8]
    ) {
        guard let file = tmpfile() else {
            throw .system(Errno(rawValue: errno), "tmpfile", path: "a temporary file for \(arguments[0])")
        }
        defer { fclose(file) }
        let descriptor = fileno(file)
        var written = 0
        while written < input.count {
            let n = input.withUnsafeBytes { bytes in
                bytes.baseAddress.map { write(descriptor, $0 + written, input.count - written) } ?? -1
            }
            if n > 0 {
                written += n
            } else if errno != EINTR {
                throw .system(Errno(rawValue: errno), "write", path: "a temporary file for \(arguments[0])")
            }
        }
        lseek(descriptor, 0, SEEK_SET)
        let child = try spawn(arguments, standardInput: descriptor, pipeTo: 1)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(child.output, $0.baseAddress, 65536) }
            if n > 0 { output.append(contentsOf: buffer[0..<n]) } else if n == 0 || errno != EINTR { break }
        }
        close(child.output)
        return (child.wait(), output)
    }

    /// The one posix_spawnp: stdin from `standardInput` (or /dev/null), descriptor `pipeTo`
    /// (1 or 2) to a pipe whose read end is returned, the other of 1 and 2 to /dev/null when
    /// it is stdout, inherited when it is stderr.
    private static func spawn(_ arguments: [String], standardInput: Int32?, pipeTo: Int32) throws(HostAccessError)
        -> Running
    {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw .system(Errno(rawValue: errno), "pipe", path: arguments[0]) }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardInput {
            posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], pipeTo)
        if pipeTo == 1 { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
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
        return Running(pid: pid, output: pipeEnds[0])
    }
}
