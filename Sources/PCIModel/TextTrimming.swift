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

extension String {
    /// The text with every control character but newline and tab (C0, DEL, C1) shown as `?`:
    /// what a message may carry from a file (a hostile `reset_method`, `/proc/iomem` name or
    /// group type) must not move a terminal's cursor or retitle its window.
    public var terminalSafe: String {
        guard unicodeScalars.contains(where: Self.isControl) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { Self.isControl($0) ? "?" : $0 }))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (value < 0x20 && value != 0x0a && value != 0x09) || (0x7f...0x9f).contains(value)
    }
}
