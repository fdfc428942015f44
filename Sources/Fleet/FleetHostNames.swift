/// The names a fleet report shows its hosts by, unique by construction: a name only one host
/// has is kept; hosts that share one (a snapshot taken twice, a cloned image) become
/// `NAME (FILE)`, and should that be some other host's name too (a hostname may be any text,
/// `node1 (h1.tar.gz)` included) `NAME (FILE #2)`, `#3`, … until it is no one's.
enum FleetHostNames {
    /// One name per host, in the order given; `hosts` is best in file order, which decides
    /// who gets `#2` when it comes to that.
    static func unique(_ hosts: [(name: String, file: String?)]) -> [String] {
        let counts = Dictionary(grouping: hosts.map(\.name), by: { $0 }).mapValues(\.count)
        var taken = Set(hosts.map(\.name).filter { counts[$0] == 1 })
        return hosts.enumerated().map { index, host in
            if counts[host.name] == 1 { return host.name }
            // A host without a file (a caller's own) is told apart by its position.
            let file = host.file ?? "host \(index + 1)"
            var candidate = "\(host.name) (\(file))"
            var number = 2
            while taken.contains(candidate) {
                candidate = "\(host.name) (\(file) #\(number))"
                number += 1
            }
            taken.insert(candidate)
            return candidate
        }
    }
}
