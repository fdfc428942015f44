import PCIModel

/// The files vfioctl writes for boot time, each wholly its own (its header says so), each
/// rewritten whole from the entries it records. udev applies `ATTR{…}=` while it runs the
/// rules of an event, and runs `RUN{builtin}+="kmod load $env{MODALIAS}"` (80-drivers.rules)
/// only after all rules: a rule file numbered below 80 sets driver_override before udev loads
/// the host driver's module, whatever the order of RUN keys.
public enum BootFiles {
    public static let earlyBindRules = "etc/udev/rules.d/40-vfioctl-early-bind.rules"
    public static let earlyBindModprobe = "etc/modprobe.d/vfioctl-early-bind.conf"
    public static let resetMethodRules = "etc/udev/rules.d/41-vfioctl-reset-method.rules"
    /// Every file vfioctl writes outside its state directory.
    public static let all: Set<String> = [earlyBindRules, earlyBindModprobe, resetMethodRules]
    /// Where Debian's initramfs udev hook copies `/etc/udev/rules.d/*.rules` (all custom rules).
    public static func earlyBindRulesInInitramfs() -> String { "lib/udev/rules.d/40-vfioctl-early-bind.rules" }
    public static let mode = 0o644

    /// The first line of every file vfioctl owns; a file without it is not replaced.
    static func header(_ command: String) -> String {
        "# Written by vfioctl (\(command)); the whole file is vfioctl's and is rewritten by it: do not edit,"
            + " change it with `vfioctl \(command)`."
    }

    static func isOwned(_ text: String) -> Bool { text.hasPrefix("# Written by vfioctl (") }
}

/// One function bound to vfio-pci at boot: the udev rule that sets its driver_override, and
/// what its host driver is, for the softdep and the initramfs advice.
public struct EarlyBindEntry: Sendable, Equatable {
    public var address: PCIAddress
    /// The driver that would otherwise bind it (from its modalias), when known.
    public var hostDriver: String?
    /// Whether that driver is a loadable module (gets a softdep) or built in.
    public var hostDriverIsModule: Bool
    /// `VVVV:DDDD` for `options vfio-pci ids=`, only when asked for.
    public var ids: String?

    public init(address: PCIAddress, hostDriver: String?, hostDriverIsModule: Bool, ids: String?) {
        self.address = address
        self.hostDriver = hostDriver
        self.hostDriverIsModule = hostDriverIsModule
        self.ids = ids
    }
}

/// The early-bind entries and the two files they make: the udev rule file (one comment line
/// recording the entry, one rule) and the modprobe.d file (softdeps, `ids=`).
public struct EarlyBindConfiguration: Sendable, Equatable {
    public var entries: [EarlyBindEntry] = []

    public init(entries: [EarlyBindEntry] = []) { self.entries = entries.sorted { $0.address < $1.address } }

    /// The rule file's text; nil when there are no entries (the file goes).
    public var rules: String? {
        guard !entries.isEmpty else { return nil }
        var lines = [BootFiles.header("early-bind")]
        for entry in entries {
            lines.append(
                "# entry \(entry.address) host-driver=\(entry.hostDriver ?? "-") "
                    + "kind=\(entry.hostDriverIsModule ? "module" : "other") ids=\(entry.ids ?? "-")")
            lines.append(
                "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"\(entry.address)\", ATTR{driver_override}=\"vfio-pci\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The modprobe.d file's text; nil when there is nothing to say.
    public var modprobe: String? {
        let softdeps = Set(entries.filter(\.hostDriverIsModule).compactMap(\.hostDriver)).sorted()
        let ids = entries.compactMap(\.ids).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        guard !softdeps.isEmpty || !ids.isEmpty else { return nil }
        var lines = [BootFiles.header("early-bind")]
        lines += softdeps.map { "softdep \($0) pre: vfio-pci" }
        if !ids.isEmpty { lines.append("options vfio-pci ids=\(ids.joined(separator: ","))") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads the entries back from the rule file vfioctl wrote.
    public static func parse(rules text: String, path: String) throws(ActionError) -> EarlyBindConfiguration {
        var entries: [EarlyBindEntry] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where line.hasPrefix("# entry ") {
            let fields = line.dropFirst("# entry ".count).split(separator: " ")
            func value(_ key: String) -> String? {
                fields.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }.flatMap {
                    $0 == "-" ? nil : $0
                }
            }
            guard fields.count == 4, let address = PCIAddress(fields[0]),
                value("host-driver").map(ModuleName.isValid) ?? true, value("ids").map(ModuleName.isValidIDs) ?? true
            else {
                throw ActionError(
                    .invalidRequest, "\(path):\(number + 1): not an entry vfioctl wrote; remove the file to start over")
            }
            entries.append(
                EarlyBindEntry(
                    address: address, hostDriver: value("host-driver"), hostDriverIsModule: value("kind") == "module",
                    ids: value("ids")))
        }
        return EarlyBindConfiguration(entries: entries)
    }
}

/// Reset methods set at boot: one udev rule per function writing `reset_method`, as
/// gnif/vendor-reset's rule writes `device_specific`.
public struct ResetMethodRules: Sendable, Equatable {
    public var methods: [PCIAddress: [ResetMethod]] = [:]

    public init(methods: [PCIAddress: [ResetMethod]] = [:]) { self.methods = methods }

    public var text: String? {
        guard !methods.isEmpty else { return nil }
        var lines = [BootFiles.header("apply")]
        for address in methods.keys.sorted() {
            let list = methods[address, default: []].map(\.name).joined(separator: " ")
            lines.append("ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"\(address)\", ATTR{reset_method}=\"\(list)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func parse(_ text: String, path: String) throws(ActionError) -> ResetMethodRules {
        var result = ResetMethodRules()
        for (number, line) in text.split(separator: "\n").enumerated() where !line.hasPrefix("#") {
            let prefix = "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\""
            let middle = "\", ATTR{reset_method}=\""
            guard line.hasPrefix(prefix), line.hasSuffix("\""),
                let split = line.firstRange(of: middle),
                let address = PCIAddress(line[line.index(line.startIndex, offsetBy: prefix.count)..<split.lowerBound])
            else {
                throw ActionError(
                    .invalidRequest, "\(path):\(number + 1): not a rule vfioctl wrote; remove the file to start over")
            }
            let names = line[split.upperBound..<line.index(before: line.endIndex)].split(separator: " ")
            result.methods[address] = try names.map { name throws(ActionError) in try ResetMethod.parse(String(name)) }
        }
        return result
    }
}

/// What may stand in a generated modprobe.d or udev line: a module name is letters, digits,
/// `_` and `-`, at most 55 bytes (the kernel's MODULE_NAME_LEN less its NUL), so a driver
/// name read from a hostile tree cannot add a line (`install … /bin/sh`) to the files.
public enum ModuleName {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 55
            && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || isAlphanumeric($0) }
    }

    /// `vvvv:dddd`, lower-case hex.
    public static func isValidIDs(_ ids: String) -> Bool {
        let parts = ids.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2
            && parts.allSatisfy { $0.utf8.count == 4 && $0.utf8.allSatisfy { isHexDigit($0) } }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
