/// The host's hugepage pools as the hook read them (`nr_hugepages`, `free_hugepages` under
/// `kernel/mm/hugepages/hugepages-SIZEkB/` and `devices/system/node/nodeN/hugepages/…`).
public struct HugepageSupply: Sendable, Equatable {
    /// One pool's counts.
    public struct Pool: Sendable, Equatable {
        public var total: Int
        public var free: Int
        public init(total: Int, free: Int) {
            self.total = total
            self.free = free
        }
    }

    /// Host-wide pools by page size in KiB.
    public var hostWide: [Int: Pool]
    /// Per host NUMA node pools: page size in KiB → node → pool. A size missing here is not
    /// checked per node (the host tree has no node directories, or pages were just reserved).
    public var perNode: [Int: [Int: Pool]]

    public init(hostWide: [Int: Pool] = [:], perNode: [Int: [Int: Pool]] = [:]) {
        self.hostWide = hostWide
        self.perNode = perNode
    }

    /// Host-wide free pages only (size in KiB → free pages), totals unknown (taken as free).
    public init(free: [Int: Int]) {
        self.init(hostWide: free.mapValues { Pool(total: $0, free: $0) })
    }
}
