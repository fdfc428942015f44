/// Why `vfioctl xml` or `vfioctl kubevirt` wrote nothing: a closed `code` scripts can test,
/// and a message that names the group or function and says what to do next.
public struct DefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// `group:N` names no group of the source.
        case noSuchGroup = "no-such-group"
        /// The address names no function of the source.
        case noSuchFunction = "no-such-function"
        /// The function is in no IOMMU group (kernel or predicted).
        case noGroup = "no-group"
        /// Every member of the group is a bridge: nothing a guest could be given.
        case noEndpoints = "no-endpoints"
        /// The group's verdict is blocked (without `--force`).
        case blocked
        /// The guest placement asked for does not fit (slots beyond 31).
        case placement
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
