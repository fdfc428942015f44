/// The domain name libvirt passes the hook in argv, checked before it is used as a file name
/// in the hook's state directory (`domains/NAME`). libvirt itself refuses `/` and newlines in
/// names; the hook also refuses what cannot be one safe file name component.
public enum DomainName {
    /// Refuses an empty name, `/`, NUL, a newline, a leading `.` (`.`, `..`, and the state
    /// directory's own temporary files), and more than `DomainXMLLimits.maximumNameBytes`.
    public static func check(_ name: String) throws(DomainNameError) {
        let shown = String(name.unicodeScalars.prefix(64).map { $0.escaped(asASCII: true) }.joined())
        func refuse(_ reason: String) -> DomainNameError { DomainNameError(name: shown, reason: reason) }
        guard !name.isEmpty else { throw refuse("it is empty") }
        guard name.utf8.count <= DomainXMLLimits.maximumNameBytes else {
            throw refuse(
                "it is \(name.utf8.count) bytes long; state file names hold at most \(DomainXMLLimits.maximumNameBytes)"
            )
        }
        guard !name.utf8.contains(0) else { throw refuse("it contains a NUL byte") }
        guard !name.utf8.contains(UInt8(ascii: "/")) else { throw refuse("it contains '/'") }
        guard !name.utf8.contains(UInt8(ascii: "\n")) else { throw refuse("it contains a newline") }
        guard !name.hasPrefix(".") else { throw refuse("it starts with '.'") }
    }
}

/// A domain name the hook cannot use as a state file name.
public struct DomainNameError: Error, CustomStringConvertible, Sendable {
    /// The name, escaped and cut to 64 characters for the message.
    public var name: String
    public var reason: String
    public var description: String {
        "domain name \"\(name)\" cannot name a file in the hook's state directory: \(reason)"
    }
}
