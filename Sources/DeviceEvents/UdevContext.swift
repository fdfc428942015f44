import CUdev
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// The one owner of a `struct udev *`; unreferenced in deinit. Enumerates PCI devices the
/// way udev sees them (a cross-check of sysfs reads). Uevents come from `KernelUeventMonitor`.
public final class UdevContext {
    private let udev: OpaquePointer

    public init?() {
        guard let udev = udev_new() else { return nil }
        self.udev = udev
    }

    deinit {
        udev_unref(udev)
    }

    /// Addresses of every device in the "pci" subsystem (`udev_enumerate_add_match_subsystem`).
    public func pciAddresses() -> [PCIAddress] {
        guard let enumerate = udev_enumerate_new(udev) else { return [] }
        defer { udev_enumerate_unref(enumerate) }
        udev_enumerate_add_match_subsystem(enumerate, "pci")
        udev_enumerate_scan_devices(enumerate)
        var result: [PCIAddress] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let path = udev_list_entry_get_name(current) {
                let text = String(decoding: UnsafeRawBufferPointer(start: path, count: strlen(path)), as: UTF8.self)
                if let last = text.split(separator: "/").last, let address = PCIAddress(last) { result.append(address) }
            }
            entry = udev_list_entry_get_next(current)
        }
        return result.sorted()
    }
}
