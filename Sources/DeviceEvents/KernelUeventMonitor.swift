import CUdev
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's uevents for one subsystem, received through a libudev monitor on the "kernel"
/// netlink source (no udevd needed), on a queue of its own. Each event's properties are passed
/// on as raw bytes: what is valid UTF-8, and how long a value may be, is the receiver's rule.
public final class KernelUeventMonitor: @unchecked Sendable {
    /// One uevent property, as the kernel sent it.
    public struct Property {
        public var key: UnsafeBufferPointer<UInt8>
        public var value: UnsafeBufferPointer<UInt8>
    }

    public struct SetupError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private let udev: OpaquePointer
    private let monitor: OpaquePointer
    private let label: String
    private var running = true

    /// Opens the netlink socket and filters on `subsystem` (`pci`). Needs root.
    public init(subsystem: String, label: String) throws(SetupError) {
        guard let udev = udev_new() else { throw SetupError(description: "udev_new failed") }
        guard let monitor = udev_monitor_new_from_netlink(udev, "kernel") else {
            udev_unref(udev)
            throw SetupError(description: "cannot open the kernel uevent netlink socket (run as root)")
        }
        udev_monitor_filter_add_match_subsystem_devtype(monitor, subsystem, nil)
        udev_monitor_enable_receiving(monitor)
        self.udev = udev
        self.monitor = monitor
        self.label = label
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }

    /// Runs until `stop()`; `onEvent` gets each uevent's properties. The buffers are valid only
    /// during the call.
    public func start(onEvent: @escaping @Sendable ([Property]) -> Void) {
        let fd = udev_monitor_get_fd(monitor)
        DispatchQueue(label: label).async { [self] in
            while running {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 500) > 0, let device = udev_monitor_receive_device(monitor) else { continue }
                var properties: [Property] = []
                var entry = udev_device_get_properties_list_entry(device)
                while let current = entry {
                    if let name = udev_list_entry_get_name(current), let value = udev_list_entry_get_value(current) {
                        properties.append(Property(key: Self.bytes(name), value: Self.bytes(value)))
                    }
                    entry = udev_list_entry_get_next(current)
                }
                onEvent(properties)
                udev_device_unref(device)
            }
        }
    }

    public func stop() { running = false }

    private static func bytes(_ text: UnsafePointer<CChar>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text))
    }
}
