import AEREvents
import DeviceEvents
import Dispatch
import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's PCI uevents (DeviceEvents' monitor), passed on when they are AER ones.
public final class UdevAERMonitor: Sendable {
    private let monitor: KernelUeventMonitor

    public init() throws(EventSourceError) {
        do {
            monitor = try KernelUeventMonitor(subsystem: "pci", label: "vfio-aerd.udev")
        } catch {
            throw EventSourceError(description: error.description)
        }
    }

    /// Runs until `stop()`: each AER uevent, or a complaint about a malformed one, goes to the handlers.
    public func start(onEvent: @escaping @Sendable (AEREvent) -> Void, onProblem: @escaping @Sendable (String) -> Void)
    {
        monitor.start { received in
            // Bytes, not String(cString:): a value that is not UTF-8 or is too long is named
            // in the complaint instead of being repaired into something else.
            var properties = UeventProperties()
            for property in received { properties.add(key: property.key, value: property.value) }
            do {
                if let event = try UeventParser.parse(properties, time: wallClock(), source: .uevent) {
                    onEvent(event)
                }
            } catch {
                onProblem("malformed uevent: \(error)")
            }
        }
    }

    public func stop() { monitor.stop() }
}

/// A source of events that could not be set up: the udev monitor, the injected-event socket.
/// Names the path, the system call and its errno where there is one.
public struct EventSourceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(description: String) { self.description = description }
}

/// TEST DOUBLE for the kernel's uevents and counters: writing a device's `uevent` file would
/// be a write to the host's /sys, which tests must never do. A unix datagram socket accepts
/// uevent text (`PCI_SLOT_NAME=…\nERROR_EVENT=…\nDEVICE_ONLINE=…`), handled exactly like a
/// udev event, or a counter movement (`PCI_SLOT_NAME=…\nAER_COUNTER=correctable|nonfatal|fatal
/// \nCOUNT=N`), handled like one the poller found. A full socket blocks the sender, so a
/// storm loses nothing.
public final class InjectedEvents: @unchecked Sendable {
    private let fd: Int32
    private var running = true
    public let path: String
    /// The bound socket's inode, so `deinit` removes only the socket this object made.
    private let inode: ino_t

    /// Binds `path`. Only a stale socket (nobody bound to it) is replaced: anything else at
    /// `path` (a file, a directory, a symlink, a socket someone listens on) is an error and
    /// is left as it is.
    public init(path: String) throws(EventSourceError) {
        guard let address = UnixSocketAddress(path: path) else {
            throw EventSourceError(
                description:
                    "--inject-socket \(path) is \(path.utf8.count) bytes long; a socket path holds at most \(UnixSocketAddress.maximumPathBytes) (sun_path): choose a shorter path"
            )
        }
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else {
                throw EventSourceError(
                    description:
                        "--inject-socket \(path) exists and is \(Self.kind(existing.st_mode)), not a socket; refusing to replace it (remove it or choose another path)"
                )
            }
            try Self.checkStale(path, address: address)
            guard unlink(path) == 0 || errno == ENOENT else {
                throw EventSourceError(
                    description:
                        "--inject-socket \(path): unlink of the stale socket: \(String(cString: strerror(errno)))")
            }
        } else if errno != ENOENT {
            throw EventSourceError(description: "--inject-socket \(path): lstat: \(String(cString: strerror(errno)))")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = fd >= 0 ? address.withSockaddr { bind(fd, $0, $1) } : -1
        guard fd >= 0, bound == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw EventSourceError(description: "--inject-socket \(path): bind: \(reason)")
        }
        var made = stat()
        _ = lstat(path, &made)
        self.fd = fd
        self.path = path
        self.inode = made.st_ino
    }

    deinit {
        close(fd)
        var current = stat()
        if lstat(path, &current) == 0, current.st_ino == inode, current.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }

    /// Throws unless the socket at `path` is stale: connecting to a datagram socket succeeds
    /// only while a process has it bound.
    private static func checkStale(_ path: String, address: UnixSocketAddress) throws(EventSourceError) {
        let probe = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard probe >= 0 else {
            throw EventSourceError(description: "--inject-socket \(path): socket: \(String(cString: strerror(errno)))")
        }
        defer { close(probe) }
        let connected = address.withSockaddr { connect(probe, $0, $1) }
        if connected == 0 {
            throw EventSourceError(
                description:
                    "--inject-socket \(path) is in use: a process is bound to it (another vfio-aerd?); refusing to take it over"
            )
        }
        switch errno {
        case ECONNREFUSED: return
        case EPROTOTYPE:
            throw EventSourceError(
                description:
                    "--inject-socket \(path) is a stream socket another process listens on; refusing to take it over")
        default:
            throw EventSourceError(
                description:
                    "--inject-socket \(path): connect to check it is stale: \(String(cString: strerror(errno)))")
        }
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFCHR, S_IFBLK: "a device node"
        default: "something else"
        }
    }

    public func start(onEvent: @escaping @Sendable (AEREvent) -> Void, onProblem: @escaping @Sendable (String) -> Void)
    {
        receiveLoop(
            label: "vfio-aerd.injected", fd: fd, isRunning: { self.running },
            onReadable: { [fd] in
                // MSG_TRUNC: recv returns the datagram's real length, so a longer one is
                // rejected whole instead of being parsed cut (COUNT=12345 read as COUNT=12).
                let limit = AERLimits.maxInjectedMessageBytes
                let (bytes, length) = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: limit) { buffer in
                    let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC))
                    return n > 0 ? (Array(buffer[0..<min(n, limit)]), n) : ([], n)
                }
                guard length > 0 else { return }
                guard length <= limit else {
                    onProblem(
                        "injected message of \(length) bytes rejected: longer than \(limit) (AERLimits.maxInjectedMessageBytes)"
                    )
                    return
                }
                do {
                    if let event = try Self.parse(bytes: bytes, time: wallClock()) {
                        onEvent(event)
                    } else {
                        onProblem("injected message without ERROR_EVENT or AER_COUNTER ignored")
                    }
                } catch {
                    onProblem("malformed uevent: \(error)")
                }
            })
    }

    public func stop() { running = false }

    /// An injected message: uevent text, or a counter movement (`AER_COUNTER`, `COUNT`).
    public static func parse(_ text: String, time: Double) throws(UeventParser.Malformed) -> AEREvent? {
        try parse(bytes: Array(text.utf8), time: time)
    }

    /// An injected datagram as received: its bytes need not be UTF-8 (a value that is not is
    /// named in the error when the event needs it).
    public static func parse(bytes: [UInt8], time: Double) throws(UeventParser.Malformed) -> AEREvent? {
        let properties = UeventParser.properties(bytes: bytes)
        guard let counter = try properties.value("AER_COUNTER") else {
            return try UeventParser.parse(properties, time: time, source: .injected)
        }
        let kinds: [String: AEREvent.Kind] = ["correctable": .correctable, "nonfatal": .nonFatal, "fatal": .fatal]
        guard let kind = kinds[counter] else {
            throw UeventParser.Malformed(
                description: "AER_COUNTER=\(UeventParser.shown(counter)) is not correctable, nonfatal or fatal")
        }
        guard let slot = try properties.value("PCI_SLOT_NAME"), let device = PCIAddress(slot) else {
            throw UeventParser.Malformed(description: "AER_COUNTER=\(counter) without PCI_SLOT_NAME")
        }
        let text = try properties.value("COUNT") ?? "1"
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw UeventParser.Malformed(
                description: "COUNT=\(UeventParser.shown(text)) is not a positive decimal number")
        }
        // Int(text) is nil past Int.max: that is over the limit as well.
        guard let count = Int(text), count <= AERLimits.maxEventCount else {
            throw UeventParser.Malformed(
                description:
                    "COUNT=\(UeventParser.shown(text)) is over the limit of \(AERLimits.maxEventCount) errors per event (AERLimits.maxEventCount)"
            )
        }
        guard count > 0 else { throw UeventParser.Malformed(description: "COUNT=0 is not a positive number") }
        return AEREvent(time: time, device: device, kind: kind, count: count, source: .injected)
    }
}

/// Calls `onReadable` each time `fd` is readable, until `isRunning()` turns false (looked at
/// every 500 ms). On a queue of its own: the loop blocks in poll(2).
private func receiveLoop(
    label: String, fd: Int32, isRunning: @escaping @Sendable () -> Bool, onReadable: @escaping @Sendable () -> Void
) {
    DispatchQueue(label: label).async {
        while isRunning() {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 500) > 0 { onReadable() }
        }
    }
}
