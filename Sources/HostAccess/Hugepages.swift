import PCIModel

/// A hugepage pool of one size, host-wide or on one NUMA node.
public struct HugepagePool: Sendable, Equatable {
    /// Page size in KiB (2048, 1048576).
    public var sizeKiB: Int
    /// nil for the host-wide pool (`kernel/mm/hugepages`).
    public var node: Int?
    public var total: Int
    public var free: Int

    public init(sizeKiB: Int, node: Int?, total: Int = 0, free: Int = 0) {
        self.sizeKiB = sizeKiB
        self.node = node
        self.total = total
        self.free = free
    }

    /// The sysfs directory, relative to sys/.
    public var directory: String {
        let pool = "hugepages/hugepages-\(sizeKiB)kB"
        return node.map { "devices/system/node/node\($0)/\(pool)" } ?? "kernel/mm/\(pool)"
    }
}

/// Reads and resizes hugepage pools: `nr_hugepages` and `free_hugepages` under
/// `kernel/mm/hugepages/hugepages-SIZEkB/` and `devices/system/node/nodeN/hugepages/…`.
public struct Hugepages {
    public let roots: HostRoots

    public init(roots: HostRoots) { self.roots = roots }

    /// Every pool the kernel offers, host-wide first, then per node.
    public func pools() throws(HostAccessError) -> [HugepagePool] {
        let sys = roots.sys
        var result: [HugepagePool] = []
        for name in try sys.list("kernel/mm/hugepages") ?? [] {
            guard let size = Self.sizeKiB(fromDirectory: name) else { continue }
            result.append(try read(HugepagePool(sizeKiB: size, node: nil, total: 0, free: 0)))
        }
        for node in try sys.list("devices/system/node") ?? [] where node.hasPrefix("node") {
            guard let number = Int(node.dropFirst(4)) else { continue }
            for name in try sys.list("devices/system/node/\(node)/hugepages") ?? [] {
                guard let size = Self.sizeKiB(fromDirectory: name) else { continue }
                result.append(try read(HugepagePool(sizeKiB: size, node: number, total: 0, free: 0)))
            }
        }
        return result
    }

    /// The pool with its counts read now.
    public func read(_ pool: HugepagePool) throws(HostAccessError) -> HugepagePool {
        let sys = roots.sys
        guard let total = try sys.readText(pool.directory + "/nr_hugepages").flatMap({ Int($0) }) else {
            throw HostAccessError(
                .notFound,
                "no \(try sys.resolve(pool.directory + "/nr_hugepages")): the kernel offers no \(pool.sizeKiB) KiB pages"
                    + (pool.node.map { " on node \($0)" } ?? ""),
                path: pool.directory)
        }
        var result = pool
        result.total = total
        result.free = try sys.readText(pool.directory + "/free_hugepages").flatMap { Int($0) } ?? 0
        return result
    }

    /// Sets the pool to `count` pages. When growing it, memory is compacted first
    /// (`/proc/sys/vm/compact_memory`) so the kernel finds contiguous ranges. Returns the pool
    /// as re-read afterwards: the kernel may give fewer pages than asked.
    public func resize(_ pool: HugepagePool, to count: Int, writer: HostWriter) throws(HostAccessError) -> HugepagePool
    {
        guard count >= 0 else {
            throw HostAccessError(.invalidInput, "\(count) is not a number of hugepages", path: pool.directory)
        }
        let current = try read(pool)
        if count > current.total, roots.proc.exists("sys/vm/compact_memory") {
            try writer.write("1", to: "sys/vm/compact_memory", in: roots.proc)
        }
        try writer.write(String(count), to: pool.directory + "/nr_hugepages", in: roots.sys)
        return writer.dryRun ? current : try read(pool)
    }

    /// "hugepages-2048kB" → 2048.
    static func sizeKiB(fromDirectory name: String) -> Int? {
        guard name.hasPrefix("hugepages-"), name.hasSuffix("kB") else { return nil }
        return Int(name.dropFirst("hugepages-".count).dropLast(2))
    }

    /// "2M" → 2048, "1G" → 1048576.
    public static func sizeKiB(named name: String) -> Int? {
        switch name.uppercased() {
        case "2M", "2MB", "2048K": 2048
        case "1G", "1GB", "1048576K": 1_048_576
        default: nil
        }
    }
}
