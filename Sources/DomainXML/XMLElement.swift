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
public struct XMLReader {
    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    public static func parse(_ text: String) throws(XMLError) -> XMLElement {
        var reader = XMLReader(bytes: Array(text.utf8))
        return try reader.document()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ message: String) -> XMLError { XMLError(line: line, message: message) }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where position < bytes.count {
            if bytes[position] == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }
    }

    private func starts(with text: String) -> Bool {
        let utf8 = Array(text.utf8)
        return position + utf8.count <= bytes.count && Array(bytes[position..<position + utf8.count]) == utf8
    }

    private mutating func skip(until terminator: String, what: String) throws(XMLError) {
        let startLine = line
        while !starts(with: terminator) {
            guard current != nil else { throw XMLError(line: startLine, message: "unterminated \(what)") }
            advance()
        }
        advance(terminator.utf8.count)
    }

    private mutating func skipMisc() throws(XMLError) {
        while true {
            skipSpace()
            if starts(with: "<?") {
                try skip(until: "?>", what: "processing instruction")
            } else if starts(with: "<!--") {
                try skip(until: "-->", what: "comment")
            } else if starts(with: "<!DOCTYPE") || starts(with: "<!ENTITY") {
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
        let root = try element()
        try skipMisc()
        guard current == nil else { throw fail("content after the root element </\(root.name)>") }
        return root
    }

    private mutating func name() throws(XMLError) -> String {
        let start = position
        while let byte = current,
            !(byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d || byte == UInt8(ascii: ">")
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "<"))
        {
            advance()
        }
        guard position > start else { throw fail("expected a name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func element() throws(XMLError) -> XMLElement {
        let startLine = line
        advance()  // <
        let tag = try name()
        var attributes: [(name: String, value: String)] = []
        while true {
            skipSpace()
            guard let byte = current else { throw XMLError(line: startLine, message: "unterminated start tag <\(tag)") }
            if byte == UInt8(ascii: "/") {
                advance()
                guard current == UInt8(ascii: ">") else { throw fail("expected /> to close <\(tag)") }
                advance()
                return XMLElement(name: tag, attributes: attributes, children: [], text: "", line: startLine)
            }
            if byte == UInt8(ascii: ">") {
                advance()
                break
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
            var raw: [UInt8] = []
            while let next = current, next != quote {
                guard next != UInt8(ascii: "<") else { throw fail("< inside attribute \(attribute) of <\(tag)>") }
                raw.append(next)
                advance()
            }
            guard current == quote else { throw fail("unterminated value of attribute \(attribute)") }
            advance()
            if attributes.contains(where: { $0.name == attribute }) {
                throw fail("attribute \(attribute) repeated in <\(tag)>")
            }
            attributes.append((attribute, try decodeEntities(raw)))
        }
        var children: [XMLElement] = []
        var text: [UInt8] = []
        while true {
            guard let byte = current else { throw XMLError(line: startLine, message: "<\(tag)> is never closed") }
            if byte == UInt8(ascii: "<") {
                if starts(with: "</") {
                    advance(2)
                    let closing = try name()
                    guard closing == tag else {
                        throw fail("</\(closing)> closes <\(tag)> (opened on line \(startLine))")
                    }
                    skipSpace()
                    guard current == UInt8(ascii: ">") else { throw fail("expected > after </\(closing)") }
                    advance()
                    let decoded = try decodeEntities(text)
                    return XMLElement(
                        name: tag, attributes: attributes, children: children,
                        text: decoded.trimmingWhitespace(), line: startLine)
                } else if starts(with: "<!--") {
                    try skip(until: "-->", what: "comment")
                } else if starts(with: "<![CDATA[") {
                    advance(9)
                    let start = position
                    try skip(until: "]]>", what: "CDATA section")
                    text += bytes[start..<(position - 3)]
                } else if starts(with: "<?") {
                    try skip(until: "?>", what: "processing instruction")
                } else {
                    children.append(try element())
                }
            } else {
                text.append(byte)
                advance()
            }
        }
    }

    private func decodeEntities(_ raw: [UInt8]) throws(XMLError) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var result = ""
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "&") {
                guard let end = raw[index...].firstIndex(of: UInt8(ascii: ";")) else {
                    throw fail("unterminated entity reference")
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
                    guard let number, let scalar = Unicode.Scalar(number) else {
                        throw fail("unknown entity &\(entity);")
                    }
                    result.unicodeScalars.append(scalar)
                }
                index = end + 1
            } else {
                let start = index
                while index < raw.count, raw[index] != UInt8(ascii: "&") { index += 1 }
                result += String(decoding: raw[start..<index], as: UTF8.self)
            }
        }
        return result
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
