import CPCI
import CPCIGuard
import PCIModel

#if canImport(Glibc)
    import Glibc
#endif

/// The one owner of a libpci `pci_access` handle: enumeration, config-space reads and
/// pci.ids names. Every libpci call that may fail goes through CPCIGuard, so a broken tree
/// or dump becomes a `HostAccessError` instead of libpci's exit().
final class PCILibrary {
    private let access: UnsafeMutablePointer<pci_access>
    /// Set when libpci longjmp'ed out of its own code: its state may then be half-freed (a
    /// dump parse that failed midway), so cleanup is skipped and the handle leaked rather
    /// than risk a double free.
    private var abandoned = false

    /// libpci's `linux-sysfs` method on `sysfsPath` (a `…/sys/bus/pci` directory), bus-centric
    /// so that it reads nothing but the directory listing and each `config`.
    convenience init(sysfsPath: String) throws(HostAccessError) {
        try self.init(method: PCI_ACCESS_SYS_BUS_PCI, parameter: "sysfs.path", value: sysfsPath)
    }

    /// A handle for pci.ids names only: initialised, never scanned, so it reads no host tree.
    convenience init(namesOnly: Void) throws(HostAccessError) {
        try self.init(method: PCI_ACCESS_SYS_BUS_PCI, parameter: "sysfs.path", value: "/nonexistent", scan: false)
    }

    /// libpci's `dump` method: the hex lines of `lspci -x…` output, as `lspci -F FILE` reads them.
    convenience init(dumpFile: String) throws(HostAccessError) {
        try self.init(method: PCI_ACCESS_DUMP, parameter: "dump.name", value: dumpFile)
    }

    private init(method: pci_access_type, parameter: String, value: String, scan: Bool = true)
        throws(HostAccessError)
    {
        guard let access = cpci_guard_alloc() else {
            throw HostAccessError(.libpci, "libpci: pci_alloc failed")
        }
        self.access = access
        access.pointee.method = method.rawValue
        access.pointee.buscentric = 1
        let set = parameter.withCString { name in
            value.withCString { text in
                pci_set_param(access, UnsafeMutablePointer(mutating: name), UnsafeMutablePointer(mutating: text))
            }
        }
        guard set == 0 else {
            pci_cleanup(access)
            throw HostAccessError(.libpci, "libpci has no parameter \(parameter)")
        }
        var message = [CChar](repeating: 0, count: 512)
        if cpci_guard_init(access, &message, message.count) != 0 {
            let text = String(nulTerminated: message)
            abandoned = true
            throw HostAccessError(.invalidInput, "libpci could not read \(value): \(text)", path: value)
        }
        if scan, cpci_guard_scan_bus(access, &message, message.count) != 0 {
            let text = String(nulTerminated: message)
            abandoned = true
            throw HostAccessError(.invalidInput, "libpci could not scan \(value): \(text)", path: value)
        }
    }

    deinit {
        if !abandoned { pci_cleanup(access) }
    }

    /// Every function libpci found, with its address.
    func functions() -> [(PCIAddress, UnsafeMutablePointer<pci_dev>)] {
        var result: [(PCIAddress, UnsafeMutablePointer<pci_dev>)] = []
        var current = access.pointee.devices
        while let device = current {
            let d = device.pointee
            let address = PCIAddress(
                domain: UInt32(truncatingIfNeeded: d.domain), bus: d.bus, device: d.dev, function: d.func)
            result.append((address, device))
            current = d.next
        }
        return result
    }

    /// As much config space as can be read: 4096 bytes where possible, else the longest
    /// readable prefix in 256- and then 16-byte steps (dumps often stop mid-way; an
    /// unprivileged sysfs read gives 64 bytes).
    func readConfig(_ device: UnsafeMutablePointer<pci_dev>, address: PCIAddress) throws(HostAccessError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var message = [CChar](repeating: 0, count: 512)
        func read(_ offset: Int, _ length: Int) throws(HostAccessError) -> Bool {
            let result = buffer.withUnsafeMutableBufferPointer { bytes in
                cpci_guard_read_block(
                    device, Int32(offset), bytes.baseAddress! + offset, Int32(length), &message, message.count)
            }
            if result < 0 {
                abandoned = true
                throw HostAccessError(
                    .libpci, "libpci: reading config space of \(address): \(String(nulTerminated: message))")
            }
            return result == 1
        }
        if try read(0, 4096) { return buffer }
        guard try read(0, 64) else {
            let warning = String(cString: cpci_guard_last_warning())
            throw HostAccessError(
                .ioError,
                "cannot read config space of \(address)" + (warning.isEmpty ? "" : ": \(warning)"))
        }
        var length = 64
        while length < 4096 {
            let step = length < 256 ? 256 - length : 256
            if try read(length, step) {
                length += step
                continue
            }
            while length + 16 <= 4096, try read(length, 16) { length += 16 }
            break
        }
        return Array(buffer[0..<length])
    }

    /// "Vendor Device" from pci.ids, or nil when either id is unknown.
    func deviceName(vendorID: UInt16, deviceID: UInt16) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard cpci_guard_device_name(access, &buffer, Int32(buffer.count), Int32(vendorID), Int32(deviceID)) != nil
        else { return nil }
        return String(nulTerminated: buffer)
    }
}
