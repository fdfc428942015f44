/// A file name in `vfioctl report`'s DIR as `readdir` gave it: the raw bytes, which need not
/// be UTF-8 (Linux names are any bytes but `/` and NUL) and are what `fstatat` and `open` are
/// given, and the name for display, where no byte can forge a line or a terminal sequence.
struct ReportFileName: Hashable, Comparable, CustomStringConvertible {
    /// The name's bytes, without the terminating NUL.
    let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    init(_ text: String) { bytes = Array(text.utf8) }

    /// NUL-terminated, for the system calls.
    var cString: [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

    /// `*.tar.gz` or `*.tgz` in any case (`HOST.TGZ` from a FAT share is a snapshot too).
    var isSnapshotName: Bool {
        let lower = bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }
        return [Array(".tar.gz".utf8), Array(".tgz".utf8)].contains { suffix in
            lower.count > suffix.count && Array(lower.suffix(suffix.count)) == suffix
        }
    }

    /// The name without its `.tar.gz`/`.tgz` suffix (any case), for display: what a host
    /// that records no hostname is called.
    var stem: String {
        let lower = description.lowercased()
        for suffix in [".tar.gz", ".tgz"] where lower.hasSuffix(suffix) && lower.count > suffix.count {
            return String(description.dropLast(suffix.count))
        }
        return description
    }

    /// Valid UTF-8 as it is, with control characters escaped (`ReportEscaping`); any other
    /// byte as `\xNN`.
    var description: String {
        if let text = String(validating: bytes, as: UTF8.self) { return ReportEscaping.escaped(text) }
        return bytes.map { byte in
            byte >= 0x20 && byte < 0x7f && byte != 0x5c
                ? String(UnicodeScalar(byte)) : "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    /// By bytes, as `ls` sorts in the C locale.
    static func < (lhs: ReportFileName, rhs: ReportFileName) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}
