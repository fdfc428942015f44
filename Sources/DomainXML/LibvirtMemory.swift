/// libvirt's scaled sizes (`virScaleInteger`, formatdomain.html "Memory Allocation"):
/// `unit` is `b`/`bytes`; `k`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB`, `P`, `PiB`, `E`,
/// `EiB` (powers of 1024); `KB`, `MB`, `GB`, `TB`, `PB`, `EB` (powers of 1000); letters in
/// any case; no unit means KiB. Values are rounded up to whole KiB as libvirt stores them.
enum LibvirtMemory {
    /// Bytes per `unit`; nil for a unit libvirt does not know.
    static func bytesPerUnit(_ unit: String) -> Int? {
        let lower = unit.lowercased()
        if lower == "b" || lower == "byte" || lower == "bytes" { return 1 }
        let letters = Array(lower.utf8)
        guard let first = letters.first,
            let power = [
                UInt8(ascii: "k"), UInt8(ascii: "m"), UInt8(ascii: "g"), UInt8(ascii: "t"),
                UInt8(ascii: "p"), UInt8(ascii: "e"),
            ].firstIndex(of: first)
        else { return nil }
        let base: Int
        switch letters.dropFirst() {
        case []: base = 1024
        case [UInt8(ascii: "b")]: base = 1000
        case [UInt8(ascii: "i"), UInt8(ascii: "b")]: base = 1024
        default: return nil
        }
        var scale = 1
        for _ in 0...power {
            let (product, overflow) = scale.multipliedReportingOverflow(by: base)
            guard !overflow else { return nil }  // EiB is 2^60: fits; nothing larger is asked for
            scale = product
        }
        return scale
    }

    /// `value` `unit` in KiB, rounded up; errors name the element, the attribute and the value.
    /// - Parameter what: how the message names the value (`<memory unit='G'>`, `<page size=…>`).
    static func kibibytes(_ text: String, unit: String?, what: String, line: Int) throws(DomainXMLError) -> Int {
        let unitName = unit ?? "KiB"
        guard let scale = bytesPerUnit(unitName) else {
            throw DomainXMLError(
                line: line,
                message:
                    "\(what): unknown unit '\(unitName)' (libvirt's are b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB)"
            )
        }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw DomainXMLError(
                line: line, message: "\(what): '\(text.prefix(40))' is not a non-negative whole number")
        }
        guard let value = Int(text) else {
            throw DomainXMLError(line: line, message: "\(what): \(text.prefix(40)) is too large")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, bytes <= DomainXMLLimits.maximumMemoryBytes else {
            throw DomainXMLError(
                line: line, message: "\(what): \(text) \(unitName) is too large (more than 8 EiB)")
        }
        return bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1)
    }
}
