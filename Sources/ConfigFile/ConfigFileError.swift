/// What is wrong in one of vfioctl's configuration files, and where: the file, the line (0
/// when the file as a whole is at fault: unreadable, too large, not UTF-8), the key when one
/// is to blame, and a message that says what was expected. Printed as `file:line: message`.
public struct ConfigFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    /// The key whose value is wrong or unknown; nil for errors of syntax or of a whole table.
    public var key: String?
    /// What is wrong and what was expected instead, e.g. `"vfs" must be an integer ≥ 0, not string`.
    public var message: String

    public init(file: String, line: Int, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}
