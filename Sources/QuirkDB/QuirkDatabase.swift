import ConfigFile
import PCIModel

/// The quirk database: the entries shipped inside vfioctl (`Quirks/*.toml`, embedded at
/// build time), extended or overridden by files from `/etc/vfioctl/quirks.d`.
public struct QuirkDatabase: Sendable {
    public let quirks: [Quirk]
    /// Which entries can match a function, by its vendor: built once, so matching a host's
    /// thousands of functions tries the few entries for each vendor, not all of them.
    let candidates: VendorIndex

    public init(quirks: [Quirk]) {
        self.quirks = quirks
        candidates = VendorIndex(quirks)
    }

    /// Parses files given as (name, text), in order; a repeated id is an error.
    public static func parse(_ files: [(name: String, text: String)]) throws(QuirkFileError) -> QuirkDatabase {
        var quirks: [Quirk] = []
        var seen: [String: String] = [:]
        for file in files {
            for quirk in try QuirkDecoder(file: file.name).decode(file.text) {
                if let first = seen[quirk.id] {
                    let line = Int(quirk.source.split(separator: ":").last ?? "0") ?? 0
                    throw QuirkFileError(
                        file: file.name, line: line, message: "id \(quirk.id) is already defined at \(first)")
                }
                seen[quirk.id] = quirk.source
                quirks.append(quirk)
            }
        }
        return QuirkDatabase(quirks: quirks)
    }

    /// The entries built into this vfioctl.
    public static func bundled() throws(QuirkFileError) -> QuirkDatabase {
        try parse(BundledQuirks.files.map { (name: "Quirks/" + $0.name, text: $0.text) })
    }

    /// This database with `local` entries added; a local entry with an existing id replaces it
    /// (that is how a site turns a shipped quirk off or changes its advice).
    public func extended(with local: QuirkDatabase) -> QuirkDatabase {
        let replaced = Set(local.quirks.map(\.id))
        return QuirkDatabase(quirks: quirks.filter { !replaced.contains($0.id) } + local.quirks)
    }

    public func quirk(id: String) -> Quirk? { quirks.first { $0.id == id } }
}

extension QuirkDatabase {
    /// This database as if quirks `applied` held on any host (their `[quirk.host]` conditions
    /// dropped) and quirks `removed` did not exist: `inspect --assume-quirk/--assume-no-quirk`.
    /// An id the database does not hold is an error naming it.
    public func assuming(applied: [String], removed: [String]) throws(QuirkAssumptionError) -> QuirkDatabase {
        let known = Set(quirks.map(\.id))
        for id in applied + removed where !known.contains(id) { throw .unknown(id) }
        if let both = Set(applied).intersection(removed).sorted().first { throw .contradictory(both) }
        let applied = Set(applied)
        let removed = Set(removed)
        return QuirkDatabase(
            quirks: quirks.compactMap { quirk in
                if removed.contains(quirk.id) { return nil }
                guard applied.contains(quirk.id) else { return quirk }
                var forced = quirk
                forced.host = nil
                return forced
            })
    }
}

public enum QuirkAssumptionError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case contradictory(String)

    public var description: String {
        switch self {
        case .unknown(let id): "no quirk \(id) in the database (`vfioctl quirks list` shows them)"
        case .contradictory(let id): "quirk \(id) is both assumed and assumed absent"
        }
    }
}

/// Positions in the database of the entries a function of a vendor may match: those whose
/// `vendor` criterion names it, and those without one, in database order (the order the
/// kernel's first-match ACS quirks and the listing keep).
struct VendorIndex: Sendable {
    private let byVendor: [UInt16: [Int]]
    private let anyVendor: [Int]

    init(_ quirks: [Quirk]) {
        var byVendor: [UInt16: [Int]] = [:]
        var anyVendor: [Int] = []
        for (position, quirk) in quirks.enumerated() {
            if let vendors = quirk.match.vendor, vendors.ranges.allSatisfy({ $0.count <= 16 }) {
                for range in vendors.ranges {
                    for vendor in range where vendor <= UInt32(UInt16.max) {
                        byVendor[UInt16(vendor), default: []].append(position)
                    }
                }
            } else {
                anyVendor.append(position)
            }
        }
        self.byVendor = byVendor
        self.anyVendor = anyVendor
    }

    /// The positions for `vendor`, ascending.
    func positions(for vendor: UInt16) -> [Int] {
        let specific = byVendor[vendor] ?? []
        if specific.isEmpty { return anyVendor }
        if anyVendor.isEmpty { return specific }
        // Both ascending: merge.
        var merged: [Int] = []
        merged.reserveCapacity(specific.count + anyVendor.count)
        var i = 0
        var j = 0
        while i < specific.count || j < anyVendor.count {
            if j == anyVendor.count || (i < specific.count && specific[i] < anyVendor[j]) {
                merged.append(specific[i])
                i += 1
            } else {
                merged.append(anyVendor[j])
                j += 1
            }
        }
        return merged
    }
}
