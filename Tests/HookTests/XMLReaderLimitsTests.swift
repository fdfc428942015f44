import DomainXML
import Testing

/// The domain XML is untrusted input (libvirt passes what the administrator or a management
/// layer defined): every bound in `DomainXMLLimits` is an error with its line, never a crash.
@Suite("XML reader bounds on untrusted domain XML")
struct XMLReaderLimitsTests {
    static func refusal(_ bytes: [UInt8]) -> DomainXMLError? {
        do {
            _ = try LibvirtDomain(bytes: bytes)
            return nil
        } catch {
            return error
        }
    }

    static func nested(_ depth: Int) -> String {
        "<domain><name>deep</name>\n" + String(repeating: "<a>", count: depth - 1)
            + String(repeating: "</a>", count: depth - 1)
            + "</domain>"
    }

    @Test("50,000 nested elements: an error naming the depth and the line, not a stack overflow")
    func deepNesting() {
        let error = Self.refusal(Array(Self.nested(50_000).utf8))
        #expect(error?.line == 2)
        #expect(error?.message == "not well-formed XML: <a> is nested 257 elements deep; domain XML is limited to 256")
    }

    @Test("exactly the depth limit is read, one more is refused")
    func depthBoundary() throws {
        let root = try XMLReader.parse(Self.nested(DomainXMLLimits.maximumDepth))
        var depth = 1
        var element = root
        while let next = element.children.last, next.name == "a" {
            depth += 1
            element = next
        }
        #expect(depth == DomainXMLLimits.maximumDepth)
        #expect(throws: XMLError.self) { try XMLReader.parse(Self.nested(DomainXMLLimits.maximumDepth + 1)) }
        // A self-closing element is as deep as any other.
        let selfClosing =
            "<domain>" + String(repeating: "<a>", count: 255) + "<b/>" + String(repeating: "</a>", count: 255)
            + "</domain>"
        #expect(throws: XMLError.self) { try XMLReader.parse(selfClosing) }
    }

    @Test("a document over 4 MiB is refused before it is parsed")
    func tooLarge() {
        let padding = String(repeating: "x", count: DomainXMLLimits.maximumDocumentBytes)
        let bytes = Array("<domain><name>big</name><!--\(padding)--></domain>".utf8)
        #expect(
            Self.refusal(bytes)?.message
                == "not well-formed XML: the document is \(bytes.count) bytes, more than the 4194304 (4 MiB) accepted")
        // Just under the limit is read (a large comment is fine).
        let fits = "<domain><name>fits</name><!--"
        let rest = "--></domain>"
        let filler = String(
            repeating: "y", count: DomainXMLLimits.maximumDocumentBytes - fits.utf8.count - rest.utf8.count)
        #expect(Self.refusal(Array((fits + filler + rest).utf8)) == nil)
    }

    @Test(
        "invalid UTF-8 and control characters are refused with their line",
        arguments: [
            ([0xff, 0xfe], "invalid UTF-8 at byte 32 (FF)"),
            ([0xc3], "invalid UTF-8 at byte 32 (C3)"),
            ([0xed, 0xa0, 0x80], "invalid UTF-8 at byte 32 (ED)"),  // an encoded surrogate
            ([0x00], "control character U+0000 at byte 32 is not allowed in XML"),
            ([0x1b], "control character U+001B at byte 32 is not allowed in XML"),
        ] as [([UInt8], String)])
    func encoding(bad: [UInt8], message: String) {
        let bytes = Array("<domain>\n<name>x</name>\n<title>a".utf8) + bad + Array("</title></domain>".utf8)
        let error = Self.refusal(bytes)
        #expect(error?.line == 3)
        #expect(error?.message == "not well-formed XML: " + message, "\(String(describing: error))")
    }

    @Test(
        "character references XML forbids, unknown and overlong entities are errors",
        arguments: [
            ("&#0;", "&#0; is not a character XML allows"),
            ("&#x1;", "&#x1; is not a character XML allows"),
            ("&#xD800;", "&#xD800; is not a character XML allows"),
            ("&#x110000;", "&#x110000; is not a character XML allows"),
            ("&#99999999999999999999;", "unknown entity &#99999999999999999999;"),
            ("&xxe;", "unknown entity &xxe;"),
            ("&" + String(repeating: "a", count: 100) + ";", "no ; within 32 bytes of &"),
            ("a & b", "no ; within 32 bytes of &"),
        ])
    func entities(text: String, message: String) {
        let error = Self.refusal(Array("<domain><name>x</name><title>\(text)</title></domain>".utf8))
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("declarations are refused wherever they appear: no DTD, no entity expansion")
    func declarations() {
        let inside = "<domain><name>x</name><!ENTITY lol 'lol'><title>&lol;</title></domain>"
        #expect(Self.refusal(Array(inside.utf8))?.message.contains("declarations (<!…>) are not accepted") == true)
        let laughs = "<!DOCTYPE d [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><domain><name>&b;</name></domain>"
        #expect(Self.refusal(Array(laughs.utf8))?.message.contains("document type declarations") == true)
    }

    @Test("entities decode once; CDATA stays literal")
    func decoding() throws {
        let root = try XMLReader.parse(
            "<domain><name>a&amp;lt;b &#x41;&#66;</name><title><![CDATA[x &lt; <y> & z]]></title></domain>")
        #expect(root.child("name")?.text == "a&lt;b AB")
        #expect(root.child("title")?.text == "x &lt; <y> & z")
    }

    @Test("200,000 attributes and a 3 MiB attribute value are read in linear time")
    func largeButLinear() throws {
        let clock = ContinuousClock()
        let many = (0..<200_000).map { " a\($0)=''" }.joined()
        var started = clock.now
        let root = try XMLReader.parse("<domain\(many)><name>x</name></domain>")
        #expect(root.attributes.count == 200_000)
        #expect(root["a199999"] == "")
        #expect(clock.now - started < .seconds(30), "a quadratic duplicate check takes minutes here")
        #expect(throws: XMLError.self) { try XMLReader.parse("<domain\(many) a7=''><name>x</name></domain>") }

        let value = String(repeating: "&amp;", count: 600_000)
        started = clock.now
        let big = try XMLReader.parse("<domain title='\(value)'><name>x</name></domain>")
        #expect(big["title"]?.utf8.count == 600_000)
        #expect(clock.now - started < .seconds(30))
    }

    @Test("numbers at and past Int.max in addresses are errors, not traps")
    func bigNumbers() {
        for (attribute, message) in [
            ("bus='9223372036854775807'", "PCI address out of range"),
            ("bus='9223372036854775808'", "bus='9223372036854775808' is not a number"),
            ("bus='0x7fffffffffffffff'", "PCI address out of range"),
            ("bus='-9223372036854775808'", "PCI address out of range"),
        ] {
            let xml =
                "<domain><name>x</name><devices><hostdev type='pci'><source><address \(attribute) slot='0' function='0'/></source></hostdev></devices></domain>"
            #expect(Self.refusal(Array(xml.utf8))?.message.contains(message) == true, "\(attribute)")
        }
    }
}
