import AEREvents
import HostAccess
import PCIModel

/// The kernel's per-device AER counters (`aer_dev_correctable|fatal|nonfatal`, kernel ≥ 4.19):
/// one "Name count" line per error type ending with a TOTAL_ERR_* line. The format has
/// changed before, so only the TOTAL lines are trusted and anything unreadable is reported.
public struct AERCounters: Sendable, Equatable {
    public var correctable: Int
    public var fatal: Int
    public var nonFatal: Int

    public init(correctable: Int = 0, fatal: Int = 0, nonFatal: Int = 0) {
        self.correctable = correctable
        self.fatal = fatal
        self.nonFatal = nonFatal
    }

    public struct Malformed: Error, CustomStringConvertible, Sendable { public var description: String }

    /// The `TOTAL_ERR_*` value of one counter file.
    public static func total(in text: String, key: String, file: String) throws(Malformed) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { throw Malformed(description: "\(file): cannot read \"\(shown(line))\"") }
            return try bounded(fields[1], file: file)
        }
        throw Malformed(description: "\(file): no \(key) line")
    }

    /// A counter value: decimal digits, at most `AERLimits.maxCounterValue`.
    static func bounded(_ text: Substring, file: String) throws(Malformed) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw Malformed(description: "\(file): cannot read \"\(shown(text))\" as a count")
        }
        guard let value = Int(text), value <= AERLimits.maxCounterValue else {
            throw Malformed(
                description:
                    "\(file): \(shown(text)) is over the limit of \(AERLimits.maxCounterValue) (AERLimits.maxCounterValue)"
            )
        }
        return value
    }

    /// At most 64 characters of what a file said, for a message.
    static func shown(_ text: some StringProtocol) -> String {
        text.count <= 64 ? String(text) : String(text.prefix(64)) + "…"
    }

    /// Reads a function's counters; nil when it has no AER counters.
    public static func read(_ address: PCIAddress, sys: RootedFileSystem) throws -> AERCounters? {
        let base = "bus/pci/devices/\(address)/"
        guard let correctable = try sys.readText(base + "aer_dev_correctable") else { return nil }
        return AERCounters(
            correctable: try total(in: correctable, key: "TOTAL_ERR_COR", file: base + "aer_dev_correctable"),
            fatal: try total(
                in: try sys.readText(base + "aer_dev_fatal") ?? "", key: "TOTAL_ERR_FATAL", file: base + "aer_dev_fatal"
            ),
            nonFatal: try total(
                in: try sys.readText(base + "aer_dev_nonfatal") ?? "", key: "TOTAL_ERR_NONFATAL",
                file: base + "aer_dev_nonfatal"))
    }
}

/// A root port's `aer_rootport_total_err_cor|fatal|nonfatal`: every error message it received,
/// from itself or from below (one decimal number per file). They catch errors whose source
/// the kernel could not attribute to a function.
public enum RootPortTotals {
    public static func read(_ address: PCIAddress, sys: RootedFileSystem) throws -> AERCounters? {
        let base = "bus/pci/devices/\(address)/aer_rootport_total_err_"
        guard let correctable = try sys.readText(base + "cor") else { return nil }
        func number(_ text: String?, _ file: String) throws(AERCounters.Malformed) -> Int {
            guard let text else { throw AERCounters.Malformed(description: "\(file): missing") }
            return try AERCounters.bounded(Substring(text.filter { !$0.isWhitespace }), file: file)
        }
        return AERCounters(
            correctable: try number(correctable, base + "cor"),
            fatal: try number(try sys.readText(base + "fatal"), base + "fatal"),
            nonFatal: try number(try sys.readText(base + "nonfatal"), base + "nonfatal"))
    }
}

/// Polls every function's AER counters and turns increases into events, so errors the
/// kernel sent no uevent for are not missed. A root port whose totals grew by more than the
/// counters of the functions at and below it is an event on the port for the difference.
/// A file that cannot be parsed is reported once.
public final class CounterPoller: @unchecked Sendable {
    private let sys: RootedFileSystem
    private var last: [PCIAddress: AERCounters] = [:]
    private var lastRootPort: [PCIAddress: AERCounters] = [:]
    private var reported = Set<String>()

    public init(sys: RootedFileSystem) { self.sys = sys }

    /// One pass: events for every counter that grew since the previous pass (the first pass
    /// only learns the values), and messages for unreadable files.
    public func poll(now: Double) -> (events: [AEREvent], problems: [String]) {
        var events: [AEREvent] = []
        var problems: [String] = []
        func report(_ error: any Error) {
            let text = "\(error)"
            if reported.insert(text).inserted { problems.append(text) }
        }
        let names = (try? sys.list("bus/pci/devices")) ?? []
        var grown: [PCIAddress: AERCounters] = [:]
        var rootPorts: [(PCIAddress, AERCounters)] = []
        for name in names {
            guard let address = PCIAddress(name) else { continue }
            do {
                if let counters = try AERCounters.read(address, sys: sys) {
                    if let previous = last[address] {
                        let delta = counters.minus(previous)
                        grown[address] = delta
                        for (count, kind) in delta.byKind where count > 0 {
                            events.append(event(address, kind, count, now: now, problems: &problems))
                        }
                    }
                    last[address] = counters
                }
                if let totals = try RootPortTotals.read(address, sys: sys) { rootPorts.append((address, totals)) }
            } catch {
                report(error)
            }
        }
        for (port, totals) in rootPorts {
            defer { lastRootPort[port] = totals }
            guard let previous = lastRootPort[port] else { continue }
            var unattributed = totals.minus(previous)
            // A function whose counters went down (reset, re-enumerated) explains nothing.
            for (address, delta) in grown where address == port || isBelow(address, port) {
                unattributed = unattributed.minus(delta.grownOnly)
            }
            for (count, kind) in unattributed.byKind where count > 0 {
                events.append(event(port, kind, count, now: now, problems: &problems))
            }
        }
        return (events, problems)
    }

    /// A counter event for `count` errors, at most `AERLimits.maxEventCount` (said so when cut).
    private func event(
        _ device: PCIAddress, _ kind: AEREvent.Kind, _ count: Int, now: Double, problems: inout [String]
    ) -> AEREvent {
        var counted = count
        if count > AERLimits.maxEventCount {
            counted = AERLimits.maxEventCount
            problems.append(
                "\(device): \(kind.rawValue) counter grew by \(count) since the last poll; counted as \(counted) (AERLimits.maxEventCount)"
            )
        }
        return AEREvent(time: now, device: device, kind: kind, count: counted, source: .counter)
    }

    /// Whether `address` sits below `port`: the port is a component of the function's sysfs
    /// device path (the target of `bus/pci/devices/ADDR`).
    private func isBelow(_ address: PCIAddress, _ port: PCIAddress) -> Bool {
        guard let target = try? sys.readLink("bus/pci/devices/\(address)") else { return false }
        return target.split(separator: "/").dropLast().contains { PCIAddress($0) == port }
    }
}

extension AERCounters {
    /// The difference, saturating instead of trapping (values come from files the kernel, or
    /// anything that can write them, controls).
    fileprivate func minus(_ other: AERCounters) -> AERCounters {
        func difference(_ a: Int, _ b: Int) -> Int {
            let (result, overflow) = a.subtractingReportingOverflow(b)
            return overflow ? (b < 0 ? Int.max : Int.min) : result
        }
        return AERCounters(
            correctable: difference(correctable, other.correctable), fatal: difference(fatal, other.fatal),
            nonFatal: difference(nonFatal, other.nonFatal))
    }

    /// Growth only: a counter that went down counts as 0.
    fileprivate var grownOnly: AERCounters {
        AERCounters(correctable: max(correctable, 0), fatal: max(fatal, 0), nonFatal: max(nonFatal, 0))
    }

    /// Most severe first, as events should be handled.
    fileprivate var byKind: [(Int, AEREvent.Kind)] {
        [(fatal, .fatal), (nonFatal, .nonFatal), (correctable, .correctable)]
    }
}
