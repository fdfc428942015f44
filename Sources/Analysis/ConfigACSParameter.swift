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
        /// The Control bits written `0` (only kept from an entry already on the command line
        /// for the same port; vfioctl itself never clears a bit).
        public var off: ACSFlags = []

        /// `xx111x1@0000:00:07.0`.
        public var text: String {
            let bits = (0..<7).reversed().map { bit -> String in
                let flag = ACSFlags(rawValue: 1 << bit)
                return on.contains(flag) ? "1" : off.contains(flag) ? "0" : "x"
            }
            return bits.joined() + "@" + port.description
        }
    }

    /// The kernel where `config_acs=` appeared (commit 47c8846a49ba "PCI: Extend ACS configurability").
    public static let introduced = KernelVersion(6, 11)
    /// Mainline release with the fix for several devices ("PCI/ACS: Fix 'pci=config_acs='
    /// parameter", applied for v6.15 and queued for the 6.12–6.14 stable series in April 2025):
    /// before it only the first device of the list was configured.
    public static let severalDevicesFixed = KernelVersion(6, 15)

    /// vfioctl's entries, first: the kernel configures a function by the first entry that
    /// matches it (`__pci_config_acs()` stops there), so an entry already on the command line
    /// that also matches (by id, `pci:VVVV:DDDD`) cannot override them.
    public var entries: [Entry]
    /// Entries of a `config_acs=` already on the command line for other functions, kept as
    /// written after vfioctl's: the kernel honours only the last `config_acs=`, so the new one
    /// must hold them.
    public var kept: [String]

    /// One entry per assumption that sets a bit; an entry already on the command line for the
    /// same port keeps its explicit `0` and `1` bits for the bits the assumption does not set.
    public init(assumptions: [ResolvedACSAssumption], commandLineWords: [String] = []) {
        let existing = Self.existingEntries(in: commandLineWords)
        var ports: [PCIAddress: (on: ACSFlags, off: ACSFlags)] = [:]
        var others: [String] = []
        for text in existing {
            if let parsed = Self.parse(text), assumptions.contains(where: { $0.port == parsed.port }) {
                ports[parsed.port] = (parsed.on, parsed.off)
            } else {
                others.append(text)
            }
        }
        entries = assumptions.filter { !$0.enabling.isEmpty }.map { assumption in
            let on = assumption.controlAfter.intersection(assumption.capability)
            let before = ports[assumption.port]
            return Entry(
                port: assumption.port, on: on.union(before?.on ?? []), off: (before?.off ?? []).subtracting(on))
        }
        kept = others
    }

    /// `pci=config_acs=…`, ready for the kernel command line.
    public var text: String {
        "pci=config_acs=" + (entries.map(\.text) + kept).joined(separator: ";")
    }

    /// The word as it goes into `GRUB_CMDLINE_LINUX` (inside its double quotes): single-quoted
    /// when it holds `;`, because grub.cfg's `linux` line is not quoted and GRUB's shell-like
    /// parser would end the command at the `;` (GRUB manual, "Shell-like scripting").
    public var grubWord: String { text.contains(";") ? "'\(text)'" : text }

    /// The `config_acs=` entries on a command line (the last one wins, as in the kernel).
    /// Double quotes are removed as the kernel's parser does (`"pci=config_acs=…"`), and
    /// words after `--` belong to init, not the kernel.
    static func existingEntries(in words: [String]) -> [String] {
        var last: [String] = []
        for word in words {
            if word == "--" { break }
            let word = word.filter { $0 != "\"" }
            guard word.hasPrefix("pci=") else { continue }
            for option in word.dropFirst(4).split(separator: ",") where option.hasPrefix("config_acs=") {
                last = option.dropFirst("config_acs=".count).split(separator: ";").map(String.init)
            }
        }
        return last
    }

    /// `FLAGS@DDDD:BB:DD.F` → the port and its explicit bits; nil for other device forms
    /// (`pci:VVVV:DDDD`, paths) and malformed flags.
    static func parse(_ entry: String) -> (port: PCIAddress, on: ACSFlags, off: ACSFlags)? {
        guard let at = entry.lastIndex(of: "@"), let port = PCIAddress(entry[entry.index(after: at)...]) else {
            return nil
        }
        let flags = entry[..<at]
        guard !flags.isEmpty, flags.count <= 7 else { return nil }
        var on: ACSFlags = []
        var off: ACSFlags = []
        for (bit, character) in flags.reversed().enumerated() {
            let flag = ACSFlags(rawValue: 1 << bit)
            switch character {
            case "1": on.insert(flag)
            case "0": off.insert(flag)
            case "x", "X": break
            default: return nil
            }
        }
        return (port, on, off)
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
                    + "(\(entries.first.map { $0.port.description } ?? "?"); fixed in \(Self.severalDevicesFixed) and "
                    + "in 6.12–6.14 stable updates): set one port per boot or run a newer kernel"
            }
            return "names several devices: Linux \(running) configures them all only with the fix \"PCI/ACS: Fix "
                + "'pci=config_acs=' parameter\" (mainline \(Self.severalDevicesFixed), 6.12–6.14 stable updates "
                + "from April 2025); after booting, `dmesg | grep 'Configured ACS'` must show one line per device"
        }
        return nil
    }
}
