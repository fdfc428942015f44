extension StringProtocol {
    /// The text without leading and trailing whitespace (`Character.isWhitespace`: spaces,
    /// tabs, newlines), as a slice of the original.
    public func trimmingWhitespace() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isWhitespace { start = index(after: start) }
        while end > start, self[index(before: end)].isWhitespace { end = index(before: end) }
        return self[start..<end]
    }
}

extension Unicode.Scalar {
    /// A control character: C0 (U+0000…U+001F), DEL (U+007F) or C1 (U+0080…U+009F), Unicode's
    /// general category Cc. Every writer of host text into a format vfioctl prints (terminal
    /// text, DOT, XML, YAML, NFD comments) decides what to do with these first.
    public var isControlCharacter: Bool { value < 0x20 || (0x7f...0x9f).contains(value) }
}

extension String {
    /// The text with every control character but newline and tab (C0, DEL, C1) shown as `?`:
    /// what a message may carry from a file (a hostile `reset_method`, `/proc/iomem` name or
    /// group type) must not move a terminal's cursor or retitle its window.
    public var terminalSafe: String {
        guard Self.mayHoldControl(utf8) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { Self.isControl($0) ? "?" : $0 }))
    }

    /// A quick look at the bytes (every message passes here): C0 and DEL are single bytes,
    /// C1 (U+0080…U+009F) is 0xC2 followed by 0x80…0x9F in UTF-8.
    private static func mayHoldControl(_ bytes: String.UTF8View) -> Bool {
        var afterC2 = false
        for byte in bytes {
            if (byte < 0x20 && byte != 0x0a && byte != 0x09) || byte == 0x7f || (afterC2 && byte < 0xa0) {
                return true
            }
            afterC2 = byte == 0xc2
        }
        return false
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isControlCharacter && scalar != "\n" && scalar != "\t"
    }
}
