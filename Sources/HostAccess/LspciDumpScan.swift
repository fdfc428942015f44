import PCIModel

/// The lines of an lspci dump that libpci's dump method (pciutils 3.9 `lib/dump.c`) acts on,
/// found and checked before libpci sees them. libpci trusts its input: it folds device 0x20
/// and function 8 into other addresses, keeps a repeated address twice, and writes the bytes
/// of an offset line like `ffffffff: 00` before its buffer. This scan reads the lines the
/// same way, refuses what libpci would misread (each error names `file:line`), and keeps only
/// the lines libpci needs, so libpci reads exactly what was checked.
public struct LspciDumpScan: Sendable {
    /// One function header (`00:1f.2 SATA controller: …`) and what its block said.
    public struct Function: Sendable, Equatable {
        public var address: PCIAddress
        /// Line of the header, counting from 1.
        public var line: Int
        /// `Kernel driver in use:` of its block.
        public var driver: String?
        /// One past the highest config-space offset its hex lines give (libpci's `len`).
        public var length: Int
        /// The config-space bytes its hex lines give, 0xff where none do (4096 of them);
        /// kept only when the scan was asked to.
        public var bytes: [UInt8]?
    }

    /// Functions in the order of their header lines.
    public private(set) var functions: [Function] = []
    /// Lines the dump had that were ignored, each naming `file:line`.
    public private(set) var anomalies: [String] = []
    /// The header, hex and blank lines, as libpci's dump method gets them.
    public private(set) var libpciText: [UInt8] = []

    /// The most functions a dump may name: one whole PCI segment (256 buses × 32 devices × 8).
    public static let maximumFunctions = 65_536
    /// Longest line libpci's dump method accepts: `fgets` into `char buf[256]` with size 255,
    /// and the newline must fit.
    public static let maximumLibpciLineLength = 253

    private let path: String

    /// Scans the contents of the dump at `path` (named in errors).
    public init(_ bytes: [UInt8], path: String, keepBytes: Bool = false) throws(HostAccessError) {
        self.path = path
        var seen: [PCIAddress: Int] = [:]
        // The function whose hex lines follow (libpci's `dev`): a blank line ends it.
        var current: Int?
        // The function whose `-v` text follows: only the next header ends it.
        var described: Int?
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            var end = newline ?? bytes.count
            let next = newline.map { $0 + 1 } ?? bytes.count
            defer { start = next }
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = bytes[start..<end]
            if let header = Self.header(line) {
                let address = try checkedAddress(header, line: line, number: lineNumber)
                if let first = seen[address] {
                    throw error(
                        lineNumber,
                        "\(address) appears again (first on line \(first)): a dump names each function once")
                }
                guard functions.count < Self.maximumFunctions else {
                    throw error(
                        lineNumber,
                        "more than \(Self.maximumFunctions) functions (one PCI segment): not the dump of one host")
                }
                seen[address] = lineNumber
                functions.append(
                    Function(
                        address: address, line: lineNumber, driver: nil, length: 0,
                        bytes: keepBytes ? [UInt8](repeating: 0xff, count: 4096) : nil))
                current = functions.count - 1
                described = current
                libpciText += line.prefix(header.prefixLength)
                libpciText.append(UInt8(ascii: "\n"))
            } else if line.isEmpty {
                current = nil
                libpciText.append(UInt8(ascii: "\n"))
            } else if let index = current, let offsetLength = Self.offsetPrefixLength(line) {
                try hexLine(line, offsetLength: offsetLength, number: lineNumber, function: index)
                libpciText += line
                libpciText.append(UInt8(ascii: "\n"))
            } else if let index = described, let driver = Self.driverInUse(line) {
                if Self.isDriverName(driver) {
                    functions[index].driver = String(decoding: driver, as: UTF8.self)
                } else {
                    anomalies.append(
                        "\(path):\(lineNumber): driver name \"\(Self.printable(driver))\" ignored: not a kernel module name"
                    )
                }
            }
        }
    }

    private func error(_ line: Int, _ message: String) -> HostAccessError {
        HostAccessError(.invalidInput, "\(path):\(line): \(message)", path: path)
    }

    // MARK: - Header lines

    /// A header line's address fields as libpci reads them (`%x:%x:%x.%d`): the device may be
    /// up to 0xff and the function up to 9 there.
    struct Header {
        var domain: UInt32
        var bus: UInt8
        var device: UInt8
        var function: UInt8
        /// Length of the address and the space after it.
        var prefixLength: Int
    }

    /// libpci's header patterns: `##:##.# `, `####:##:##.# ` or `#####:##:##.# ` (# a hex
    /// digit; the function must also be a decimal digit, as `%d` reads it).
    static func header(_ line: ArraySlice<UInt8>) -> Header? {
        for domainDigits in [0, 4, 5] {
            let domainPart = domainDigits == 0 ? 0 : domainDigits + 1
            let length = domainPart + 8
            guard line.count >= length else { continue }
            let base = line.startIndex
            func at(_ offset: Int) -> UInt8 { line[base + offset] }
            if domainDigits > 0 {
                guard (0..<domainDigits).allSatisfy({ hexValue(at($0)) != nil }), at(domainDigits) == UInt8(ascii: ":")
                else { continue }
            }
            guard let busHigh = hexValue(at(domainPart)), let busLow = hexValue(at(domainPart + 1)),
                at(domainPart + 2) == UInt8(ascii: ":"), let deviceHigh = hexValue(at(domainPart + 3)),
                let deviceLow = hexValue(at(domainPart + 4)), at(domainPart + 5) == UInt8(ascii: "."),
                hexValue(at(domainPart + 6)) != nil, at(domainPart + 7) == UInt8(ascii: " ")
            else { continue }
            let functionDigit = at(domainPart + 6)
            guard functionDigit >= UInt8(ascii: "0"), functionDigit <= UInt8(ascii: "9") else { return nil }
            var domain: UInt32 = 0
            for offset in 0..<domainDigits { domain = domain << 4 | UInt32(hexValue(at(offset)) ?? 0) }
            return Header(
                domain: domain, bus: busHigh << 4 | busLow, device: deviceHigh << 4 | deviceLow,
                function: functionDigit - UInt8(ascii: "0"), prefixLength: length)
        }
        return nil
    }

    private func checkedAddress(_ header: Header, line: ArraySlice<UInt8>, number: Int) throws(HostAccessError)
        -> PCIAddress
    {
        // The line as a message quotes it; made only for a message (every line passes here).
        var text: String { Self.printable(line.prefix(header.prefixLength - 1)) }
        guard header.device < 32 else {
            throw error(
                number, "\"\(text)\" names device 0x\(hex(header.device, width: 2)); PCI devices are 00 to 1f")
        }
        guard header.function < 8 else {
            throw error(number, "\"\(text)\" names function \(header.function); PCI functions are 0 to 7")
        }
        return PCIAddress(domain: header.domain, bus: header.bus, device: header.device, function: header.function)
    }

    // MARK: - Hex lines

    /// Length of the `OFFSET: ` prefix (2 to 8 hex digits, a colon, a space), as libpci
    /// recognises a hex line, or nil.
    static func offsetPrefixLength(_ line: ArraySlice<UInt8>) -> Int? {
        var digits = 0
        for byte in line {
            if hexValue(byte) != nil {
                digits += 1
                if digits > 8 { return nil }
                continue
            }
            guard byte == UInt8(ascii: ":"), digits >= 2 else { return nil }
            let space = line.startIndex + digits + 1
            return space < line.endIndex && line[space] == UInt8(ascii: " ") ? digits + 2 : nil
        }
        return nil
    }

    /// Checks one `OFFSET: hh hh …` line the way libpci reads it and records its bytes.
    private mutating func hexLine(_ line: ArraySlice<UInt8>, offsetLength: Int, number: Int, function: Int)
        throws(HostAccessError)
    {
        // The line as a message quotes it; made only for a message (every line passes here).
        var text: String { Self.printable(line.prefix(60)) + (line.count > 60 ? "…" : "") }
        guard line.count <= Self.maximumLibpciLineLength else {
            throw error(
                number,
                "hex line of \(line.count) bytes; libpci reads lines of at most \(Self.maximumLibpciLineLength): \"\(text)\""
            )
        }
        // Up to 8 digits: libpci's `%x` into an int wraps "ffffffff" to -1, which must never reach it.
        var offset = 0
        for byte in line.prefix(offsetLength - 2) { offset = offset << 4 | Int(Self.hexValue(byte) ?? 0) }
        guard offset < 4096 else {
            throw error(number, "offset 0x\(hex(offset, width: 3)) is past the 4096 bytes of config space: \"\(text)\"")
        }
        var position = line.startIndex + offsetLength
        while position + 1 < line.endIndex, let high = Self.hexValue(line[position]),
            let low = Self.hexValue(line[position + 1]),
            position + 2 == line.endIndex || line[position + 2] == UInt8(ascii: " ")
        {
            guard offset < 4096 else {
                throw error(number, "bytes run past the 4096 bytes of config space: \"\(text)\"")
            }
            functions[function].bytes?[offset] = high << 4 | low
            offset += 1
            functions[function].length = max(functions[function].length, offset)
            position += 2
            if position < line.endIndex { position += 1 }
        }
        guard position == line.endIndex else {
            // libpci's own words for this ("dump: Malformed line"), with where and why.
            throw error(
                number,
                "Malformed line: after \"OFFSET: \" only two-digit hex bytes separated by single spaces: \"\(text)\"")
        }
    }

    // MARK: - Text lines

    /// The value of a `Kernel driver in use: NAME` line (lspci -k), without surrounding blanks.
    static func driverInUse(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let marker = Array("Kernel driver in use: ".utf8)
        guard line.count >= marker.count else { return nil }
        var index = line.startIndex
        while index + marker.count <= line.endIndex {
            if line[index..<index + marker.count].elementsEqual(marker) {
                var value = line[(index + marker.count)...]
                while let first = value.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                    value.removeFirst()
                }
                while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                    value.removeLast()
                }
                return value
            }
            index += 1
        }
        return nil
    }

    /// A kernel module name as sysfs shows it: letters, digits, `_`, `-` and `.`; nothing a
    /// terminal would act on.
    static func isDriverName(_ name: ArraySlice<UInt8>) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.allSatisfy { byte in
                hexValue(byte) != nil || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "_")
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            }
    }

    /// `bytes` for a message: printable ASCII kept, anything else as `\xNN`.
    static func printable(_ bytes: some Collection<UInt8>) -> String {
        var result = ""
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7f {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "\\x" + hex(byte, width: 2)
            }
        }
        return result
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
