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
            guard fields.count == 2, let value = Int(fields[1]), value >= 0 else {
                throw Malformed(description: "\(file): cannot read \"\(line)\"")
            }
            return value
        }
        throw Malformed(description: "\(file): no \(key) line")
    }

    /// Reads a function's counters; nil when it has no AER counters.
    public static func read(_ address: PCIAddress, sys: RootedFileSystem) throws -> AERCounters? {
        let base = "bus/pci/devices/\(address)/"
        guard let correctable = try sys.readText(base + "aer_dev_correctable") else { return nil }
        return AERCounters(
            correctable: try total(in: correctable, key: "TOTAL_ERR_COR", file: base + "aer_dev_correctable"),
            fatal: try total(in: try sys.readText(base + "aer_dev_fatal") ?? "", key: "TOTAL_ERR_FATAL", file: base + "aer_dev_fatal"),
            nonFatal: try total(in: try sys.readText(base + "aer_dev_nonfatal") ?? "", key: "TOTAL_ERR_NONFATAL", file: base + "aer_dev_nonfatal"))
    }
}

/// Polls every function's AER counters and turns increases into events, so errors the
/// kernel sent no uevent for are not missed. A file that cannot be parsed is reported once.
public final class CounterPoller: @unchecked Sendable {
    private let sys: RootedFileSystem
    private var last: [PCIAddress: AERCounters] = [:]
    private var reported = Set<String>()

    public init(sys: RootedFileSystem) { self.sys = sys }

    /// One pass: events for every counter that grew since the previous pass (the first pass
    /// only learns the values), and messages for unreadable files.
    public func poll(now: Double) -> (events: [AEREvent], problems: [String]) {
        var events: [AEREvent] = []
        var problems: [String] = []
        let names = (try? sys.list("bus/pci/devices")) ?? []
        for name in names {
            guard let address = PCIAddress(name) else { continue }
            do {
                guard let counters = try AERCounters.read(address, sys: sys) else { continue }
                if let previous = last[address] {
                    let pairs: [(Int, AEREvent.Kind)] = [
                        (counters.fatal - previous.fatal, .fatal), (counters.nonFatal - previous.nonFatal, .nonFatal),
                        (counters.correctable - previous.correctable, .correctable),
                    ]
                    for (delta, kind) in pairs where delta > 0 {
                        events.append(AEREvent(time: now, device: address, kind: kind, count: delta, source: .counter))
                    }
                }
                last[address] = counters
            } catch {
                let text = "\(error)"
                if reported.insert(text).inserted { problems.append(text) }
            }
        }
        return (events, problems)
    }
}
