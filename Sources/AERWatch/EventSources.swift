import CUdev
import Dispatch
import HostAccess
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// Receives the kernel's PCI uevents through a libudev monitor on the "kernel" netlink
/// source (no udevd needed) on its own thread, and passes AER ones on.
public final class UdevAERMonitor: @unchecked Sendable {
    private let udev: OpaquePointer
    private let monitor: OpaquePointer
    private var running = true

    public init() throws {
        guard let udev = udev_new() else { throw UeventParser.Malformed(description: "udev_new failed") }
        guard let monitor = udev_monitor_new_from_netlink(udev, "kernel") else {
            udev_unref(udev)
            throw UeventParser.Malformed(description: "cannot open the kernel uevent netlink socket (run as root)")
        }
        udev_monitor_filter_add_match_subsystem_devtype(monitor, "pci", nil)
        udev_monitor_enable_receiving(monitor)
        self.udev = udev
        self.monitor = monitor
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Runs until `stop()`: each AER uevent, or a complaint about a malformed one, goes to the handlers.
    public func start(onEvent: @escaping @Sendable (AEREvent) -> Void, onProblem: @escaping @Sendable (String) -> Void)
    {
        let fd = udev_monitor_get_fd(monitor)
        receiveLoop(
            label: "vfio-aerd.udev", fd: fd, isRunning: { self.running },
            onReadable: { [self] in
                guard let device = udev_monitor_receive_device(monitor) else { return }
                var properties: [String: String] = [:]
                var entry = udev_device_get_properties_list_entry(device)
                while let current = entry {
                    if let name = udev_list_entry_get_name(current), let value = udev_list_entry_get_value(current) {
                        properties[String(cString: name)] = String(cString: value)
                    }
                    entry = udev_list_entry_get_next(current)
                }
                udev_device_unref(device)
                do {
                    if let event = try UeventParser.parse(properties, time: wallClock(), source: .uevent) {
                        onEvent(event)
                    }
                } catch {
                    onProblem("malformed uevent: \(error)")
                }
            })
    }

    public func stop() { running = false }
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

    public init(path: String) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = UnixSocketAddress(path: path).withSockaddr { bind(fd, $0, $1) }
        guard fd >= 0, bound == 0 else {
            if fd >= 0 { close(fd) }
            throw UeventParser.Malformed(description: "cannot bind \(path): errno \(errno)")
        }
        self.fd = fd
        self.path = path
    }

    deinit {
        close(fd)
        unlink(path)
    }

    public func start(onEvent: @escaping @Sendable (AEREvent) -> Void, onProblem: @escaping @Sendable (String) -> Void)
    {
        receiveLoop(
            label: "vfio-aerd.injected", fd: fd, isRunning: { self.running },
            onReadable: { [fd] in
                let text = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
                    let n = recv(fd, buffer.baseAddress, buffer.count, 0)
                    return n > 0 ? String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self) : nil
                }
                guard let text else { return }
                do {
                    if let event = try Self.parse(text, time: wallClock()) {
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
        let properties = UeventParser.properties(text)
        guard let counter = properties["AER_COUNTER"] else {
            return try UeventParser.parse(properties, time: time, source: .injected)
        }
        let kinds: [String: AEREvent.Kind] = ["correctable": .correctable, "nonfatal": .nonFatal, "fatal": .fatal]
        guard let kind = kinds[counter] else {
            throw UeventParser.Malformed(description: "AER_COUNTER=\(counter) is not correctable, nonfatal or fatal")
        }
        guard let slot = properties["PCI_SLOT_NAME"], let device = PCIAddress(slot) else {
            throw UeventParser.Malformed(description: "AER_COUNTER=\(counter) without PCI_SLOT_NAME")
        }
        guard let count = Int(properties["COUNT"] ?? "1"), count > 0 else {
            throw UeventParser.Malformed(description: "COUNT=\(properties["COUNT"] ?? "") is not a positive number")
        }
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

/// Seconds since the epoch.
public func wallClock() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
