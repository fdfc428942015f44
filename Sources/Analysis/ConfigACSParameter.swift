import PCIModel

/// The upstream kernel parameter that sets ACS Control bits at boot:
/// `pci=config_acs=<flags>@<pci_dev>[;<flags>@<pci_dev>…]` (Documentation/admin-guide/
/// kernel-parameters.txt; drivers/pci/pci.c `__pci_config_acs()`, called from
/// `pci_enable_acs()` after the kernel's own enabling).
///
/// `<flags>` is written most significant bit first, one character per Control bit from DT
/// (bit 6) down to SV (bit 0): `1` forces the bit on, `0` off, `x` leaves the firmware's value.
/// Since the fix "PCI/ACS: Fix 'pci=config_acs=' parameter" an `x` takes the value firmware
/// left (not what the kernel enabled on top), so every bit that should be on is written `1`,
/// the ones the kernel had enabled itself included. vfioctl never writes `0`.
///
/// This is not the out-of-tree `pcie_acs_override=`: config_acs changes the hardware's real
/// Control register, so the isolation it gives is enforced by the port.
public struct ConfigACSParameter: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var port: PCIAddress
        /// The Control bits written `1`.
        public var on: ACSFlags

        /// `xx111x1@0000:00:07.0`.
        public var text: String {
            let bits = (0..<7).reversed().map { bit in on.contains(ACSFlags(rawValue: 1 << bit)) ? "1" : "x" }
            return bits.joined() + "@" + port.description
        }
    }

    /// The kernel where `config_acs=` appeared (commit 47c8846a49ba "PCI: Extend ACS configurability").
    public static let introduced = KernelVersion(6, 11)
    /// Mainline release with the fix for several devices ("PCI/ACS: Fix 'pci=config_acs='
    /// parameter", applied for v6.15 and queued for the 6.12–6.14 stable series in April 2025):
    /// before it only the first device of the list was configured.
    public static let severalDevicesFixed = KernelVersion(6, 15)

    public var entries: [Entry]
    /// Entries of a `config_acs=` already on the command line for other functions, kept as
    /// written: the kernel honours only the last `config_acs=`, so the new one must hold them.
    public var kept: [String]

    /// One entry per assumption; the existing command line's entries for other functions kept.
    public init(assumptions: [ResolvedACSAssumption], commandLineWords: [String] = []) {
        entries = assumptions.map { Entry(port: $0.port, on: $0.controlAfter.intersection($0.capability)) }
        let ours = Set(assumptions.map(\.port))
        kept = Self.existingEntries(in: commandLineWords).filter { entry in
            guard let at = entry.lastIndex(of: "@") else { return true }
            let device = entry[entry.index(after: at)...]
            return PCIAddress(device).map { !ours.contains($0) } ?? true
        }
    }

    /// `pci=config_acs=…`, ready for the kernel command line.
    public var text: String {
        "pci=config_acs=" + (kept + entries.map(\.text)).joined(separator: ";")
    }

    /// The `config_acs=` entries on a command line (the last one wins, as in the kernel).
    static func existingEntries(in words: [String]) -> [String] {
        var last: [String] = []
        for word in words where word.hasPrefix("pci=") {
            for option in word.dropFirst(4).split(separator: ",") where option.hasPrefix("config_acs=") {
                last = option.dropFirst("config_acs=".count).split(separator: ";").map(String.init)
            }
        }
        return last
    }

    /// Whether the kernel `running` honours this parameter, and what to do when it does not.
    public func kernelNote(running: KernelVersion?) -> String? {
        guard let running else {
            return "needs Linux \(Self.introduced) or later (this source does not say which kernel it ran)"
        }
        if running < Self.introduced {
            return "needs Linux \(Self.introduced) or later: this host runs \(running), which ignores it "
                + "(\"PCI: Unknown option\")"
        }
        if kept.count + entries.count > 1, running < Self.severalDevicesFixed {
            if running < KernelVersion(6, 12) {
                return "names several devices, and Linux \(running) configures only the first of a list "
                    + "(fixed in \(Self.severalDevicesFixed) and in 6.12–6.14 stable updates): set one port per boot "
                    + "or run a newer kernel"
            }
            return "names several devices: Linux \(running) configures them all only with the fix \"PCI/ACS: Fix "
                + "'pci=config_acs=' parameter\" (mainline \(Self.severalDevicesFixed), 6.12–6.14 stable updates "
                + "from April 2025); after booting, `dmesg | grep 'Configured ACS'` must show one line per device"
        }
        return nil
    }
}
