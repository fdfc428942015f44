import PCIModel

/// An element of a parsed XML document: name (with its prefix), attributes in order,
/// children, and its own text.
public final class XMLElement: Sendable {
    public let name: String
    public let attributes: [(name: String, value: String)]
    public let children: [XMLElement]
    public let text: String
    /// Line where the element starts, for messages.
    public let line: Int

    init(name: String, attributes: [(name: String, value: String)], children: [XMLElement], text: String, line: Int) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
        self.line = line
    }

    public subscript(attribute: String) -> String? { attributes.first { $0.name == attribute }?.value }

    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    public func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The first descendant along a path of child names (`os/type`).
    public func at(_ path: String) -> XMLElement? {
        var current: XMLElement? = self
        for part in path.split(separator: "/") { current = current?.child(String(part)) }
        return current
    }
}

public struct XMLError: Error, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// A small XML reader for libvirt domain documents: elements, attributes (single or double
/// quoted), text, the five named entities and numeric character references, comments,
/// CDATA, the XML declaration and processing instructions. DTDs are refused. Not
/// validating; malformed input is an error with its line.
///
/// The input is untrusted: it is bounded by `DomainXMLLimits` (document size, nesting depth,
/// entity length), must be UTF-8 without the control characters XML 1.0 forbids, and is read
/// without recursion in time linear in its size.
public struct XMLReader {
    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    public static func parse(_ text: String) throws(XMLError) -> XMLElement {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses raw bytes (what the hook reads from stdin): the size and the encoding are
    /// checked before anything else.
    public static func parse(bytes: [UInt8]) throws(XMLError) -> XMLElement {
        guard bytes.count <= DomainXMLLimits.maximumDocumentBytes else {
            throw XMLError(
                line: 1,
                message:
                    "the document is \(bytes.count) bytes, more than the \(DomainXMLLimits.maximumDocumentBytes) (4 MiB) accepted"
            )
        }
        try validateCharacters(bytes)
        var reader = XMLReader(bytes: bytes)
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { reader.position = 3 }  // UTF-8 byte order mark
        return try reader.document()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Valid UTF-8, and no C0 control characters but tab, newline and carriage return
    /// (XML 1.0 `Char`): a NUL or a stray byte is an error with its line.
    static func validateCharacters(_ bytes: [UInt8]) throws(XMLError) {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var line = 1
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.count == 1, let byte = encoded.first {
                    if byte == 0x0a {
                        line += 1
                    } else if byte < 0x20, byte != 0x09, byte != 0x0d {
                        throw XMLError(
                            line: line,
                            message: "control character U+\(hex4(byte)) at byte \(offset) is not allowed in XML")
                    }
                }
                offset += encoded.count
            case .error(let length):
                let bad = bytes[offset..<min(offset + length, bytes.count)].map { hex2($0) }.joined(separator: " ")
                throw XMLError(line: line, message: "invalid UTF-8 at byte \(offset) (\(bad))")
            case .emptyInput:
                return
            }
        }
    }

    private static func hex2(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }

    private static func hex4(_ byte: UInt8) -> String { "00" + hex2(byte) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ message: String) -> XMLError { XMLError(line: line, message: message) }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where position < bytes.count {
            if bytes[position] == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }
    }

    private func starts(with text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        return text.withUTF8Buffer { prefix in
            for index in 0..<count where bytes[position + index] != prefix[index] { return false }
            return true
        }
    }

    private mutating func skip(until terminator: StaticString, what: String) throws(XMLError) {
        let startLine = line
        while !starts(with: terminator) {
            guard current != nil else { throw XMLError(line: startLine, message: "unterminated \(what)") }
            advance()
        }
        advance(terminator.utf8CodeUnitCount)
    }

    private mutating func skipMisc() throws(XMLError) {
        while true {
            skipSpace()
            if starts(with: "<?") {
                try skip(until: "?>", what: "processing instruction")
            } else if starts(with: "<!--") {
                try skip(until: "-->", what: "comment")
            } else if starts(with: "<!") {
                throw fail("document type declarations are not accepted in domain XML")
            } else {
                return
            }
        }
    }

    private mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d { advance() }
    }

    private mutating func document() throws(XMLError) -> XMLElement {
        try skipMisc()
        guard current == UInt8(ascii: "<") else {
            throw fail(current == nil ? "empty document: expected <domain …>" : "expected an element, found text")
        }
        let root = try elementTree()
        try skipMisc()
        guard current == nil else { throw fail("content after the root element </\(root.name)>") }
        return root
    }

    private mutating func name() throws(XMLError) -> String {
        let start = position
        while let byte = current,
            !(byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d || byte == UInt8(ascii: ">")
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "<")
                || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "&"))
        {
            advance()
        }
        guard position > start else { throw fail("expected a name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// An element being read: its start tag is done, its content is not.
    private struct OpenElement {
        var tag: String
        var attributes: [(name: String, value: String)]
        var children: [XMLElement] = []
        var text: [UInt8] = []
        var line: Int
    }

    /// A start tag at `<`: the element if it closes itself (`/>`), else the open element.
    private mutating func startTag() throws(XMLError) -> (open: OpenElement, closed: Bool) {
        let startLine = line
        advance()  // <
        let tag = try name()
        var attributes: [(name: String, value: String)] = []
        var seen = Set<String>()
        while true {
            skipSpace()
            guard let byte = current else { throw XMLError(line: startLine, message: "unterminated start tag <\(tag)") }
            if byte == UInt8(ascii: "/") {
                advance()
                guard current == UInt8(ascii: ">") else { throw fail("expected /> to close <\(tag)") }
                advance()
                return (OpenElement(tag: tag, attributes: attributes, line: startLine), true)
            }
            if byte == UInt8(ascii: ">") {
                advance()
                return (OpenElement(tag: tag, attributes: attributes, line: startLine), false)
            }
            let attribute = try name()
            skipSpace()
            guard current == UInt8(ascii: "=") else { throw fail("attribute \(attribute) of <\(tag)> has no value") }
            advance()
            skipSpace()
            guard let quote = current, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw fail("attribute \(attribute) of <\(tag)> is not quoted")
            }
            advance()
            let start = position
            while let next = current, next != quote {
                guard next != UInt8(ascii: "<") else { throw fail("< inside attribute \(attribute) of <\(tag)>") }
                advance()
            }
            guard current == quote else { throw fail("unterminated value of attribute \(attribute)") }
            let raw = bytes[start..<position]
            advance()
            guard seen.insert(attribute).inserted else { throw fail("attribute \(attribute) repeated in <\(tag)>") }
            attributes.append((attribute, try decodeEntities(raw)))
        }
    }

    /// The element at `<` with everything in it, read with an explicit stack of open
    /// elements (never recursion) at most `DomainXMLLimits.maximumDepth` deep.
    private mutating func elementTree() throws(XMLError) -> XMLElement {
        let (root, closed) = try startTag()
        if closed {
            return XMLElement(name: root.tag, attributes: root.attributes, children: [], text: "", line: root.line)
        }
        var open = [root]
        while var top = open.popLast() {
            // `top` is taken off the stack while its content is read, so appending to it does
            // not copy the stack's storage.
            var finished: XMLElement?
            while finished == nil {
                guard let byte = current else {
                    throw XMLError(line: top.line, message: "<\(top.tag)> is never closed")
                }
                guard byte == UInt8(ascii: "<") else {
                    top.text.append(byte)
                    advance()
                    continue
                }
                if starts(with: "</") {
                    advance(2)
                    let closing = try name()
                    guard closing == top.tag else {
                        throw fail("</\(closing)> closes <\(top.tag)> (opened on line \(top.line))")
                    }
                    skipSpace()
                    guard current == UInt8(ascii: ">") else { throw fail("expected > after </\(closing)") }
                    advance()
                    let decoded = try decodeEntities(top.text[...])
                    finished = XMLElement(
                        name: top.tag, attributes: top.attributes, children: top.children,
                        text: String(decoded.trimmingWhitespace()), line: top.line)
                } else if starts(with: "<!--") {
                    try skip(until: "-->", what: "comment")
                } else if starts(with: "<![CDATA[") {
                    advance(9)
                    let start = position
                    try skip(until: "]]>", what: "CDATA section")
                    // CDATA is literal: escape & so that decoding the text leaves it as it is.
                    for byte in bytes[start..<(position - 3)] {
                        if byte == UInt8(ascii: "&") { top.text += Array("&amp;".utf8) } else { top.text.append(byte) }
                    }
                } else if starts(with: "<!") {
                    throw fail("declarations (<!…>) are not accepted inside <\(top.tag)>")
                } else if starts(with: "<?") {
                    try skip(until: "?>", what: "processing instruction")
                } else {
                    let (child, closed) = try startTag()
                    // `top` is at depth open.count + 1, so the child is one deeper.
                    guard open.count + 2 <= DomainXMLLimits.maximumDepth else {
                        throw XMLError(
                            line: child.line,
                            message:
                                "<\(child.tag)> is nested \(open.count + 2) elements deep; domain XML is limited to \(DomainXMLLimits.maximumDepth)"
                        )
                    }
                    if closed {
                        top.children.append(
                            XMLElement(
                                name: child.tag, attributes: child.attributes, children: [], text: "", line: child.line)
                        )
                    } else {
                        open.append(top)
                        top = child
                    }
                }
            }
            guard let element = finished else { continue }
            guard var parent = open.popLast() else { return element }
            parent.children.append(element)
            open.append(parent)
        }
        throw fail("internal error: no element read")
    }

    private func decodeEntities(_ raw: ArraySlice<UInt8>) throws(XMLError) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var result = ""
        var index = raw.startIndex
        while index < raw.endIndex {
            if raw[index] == UInt8(ascii: "&") {
                let limit = min(raw.endIndex, index + 2 + DomainXMLLimits.maximumEntityLength)
                guard let end = raw[index..<limit].firstIndex(of: UInt8(ascii: ";")) else {
                    throw fail(
                        "unterminated or overlong entity reference (no ; within \(DomainXMLLimits.maximumEntityLength) bytes of &)"
                    )
                }
                let entity = String(decoding: raw[(index + 1)..<end], as: UTF8.self)
                switch entity {
                case "lt": result += "<"
                case "gt": result += ">"
                case "amp": result += "&"
                case "quot": result += "\""
                case "apos": result += "'"
                default:
                    let number: UInt32? =
                        entity.hasPrefix("#x")
                        ? UInt32(entity.dropFirst(2), radix: 16)
                        : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                    guard let number else { throw fail("unknown entity &\(entity);") }
                    // XML 1.0 Char: no NUL, no C0 controls but tab/newline/return, no surrogates.
                    guard number >= 0x20 || number == 0x09 || number == 0x0a || number == 0x0d,
                        let scalar = Unicode.Scalar(number)
                    else {
                        throw fail("&\(entity); is not a character XML allows")
                    }
                    result.unicodeScalars.append(scalar)
                }
                index = end + 1
            } else {
                let start = index
                while index < raw.endIndex, raw[index] != UInt8(ascii: "&") { index += 1 }
                result += String(decoding: raw[start..<index], as: UTF8.self)
            }
        }
        return result
    }
}
