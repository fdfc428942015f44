import PCIModel

/// A libvirt node set (`virBitmapParse`): comma-separated numbers and ranges, `^N` removing
/// one (`0-3,^2,5`), used by `<page nodeset>` (guest NUMA cells) and `<numatune>` (host
/// nodes). Numbers above `DomainXMLLimits.maximumNUMANode` are refused, so a range cannot
/// make a huge set.
enum NodeSet {
    static func parse(_ text: String, what: String, line: Int) throws(DomainXMLError) -> Set<Int> {
        var result = Set<Int>()
        var removed = Set<Int>()
        for rawPart in text.split(separator: ",", omittingEmptySubsequences: false) {
            var part = Substring(rawPart.trimmingWhitespace())
            let negated = part.hasPrefix("^")
            if negated { part = part.dropFirst() }
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count),
                let low = try number(bounds[0], text: text, what: what, line: line),
                let high = try bounds.count == 2 ? number(bounds[1], text: text, what: what, line: line) : low,
                low <= high, !(negated && bounds.count == 2)
            else {
                throw DomainXMLError(
                    line: line, message: "\(what)='\(text.prefix(80))' is not a node set like 0-3,^2,5")
            }
            if negated { removed.insert(low) } else { result.formUnion(low...high) }
        }
        return result.subtracting(removed)
    }

    private static func number(_ digits: Substring, text: String, what: String, line: Int) throws(DomainXMLError)
        -> Int?
    {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        guard let value = Int(digits), value <= DomainXMLLimits.maximumNUMANode else {
            throw DomainXMLError(
                line: line,
                message:
                    "\(what)='\(text.prefix(80))' names node \(digits.prefix(40)); NUMA nodes go up to \(DomainXMLLimits.maximumNUMANode)"
            )
        }
        return value
    }

    /// `0-3,5` for messages.
    static func describe(_ nodes: Set<Int>) -> String {
        var ranges: [String] = []
        var sorted = nodes.sorted()[...]
        while let first = sorted.popFirst() {
            var last = first
            while sorted.first == last + 1 { last = sorted.removeFirst() }
            ranges.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return ranges.joined(separator: ",")
    }
}
