/// An error reading or writing the audit ledger. Messages name the file and line, never entry contents.
public struct AuditError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; stable for programmatic checks.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        public var description: String { raw }

        /// The ledger cannot be opened, read or written.
        public static let io = Code(raw: "io")
        /// The ledger's last entry is damaged or incomplete, so the chain cannot be continued.
        public static let broken = Code(raw: "broken")
    }

    public let code: Code
    /// A message safe to show to an operator: what went wrong and what to do.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
