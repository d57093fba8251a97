/// An error of the agent's spool: it is full, its files are damaged, its key is unusable, or a run id is invalid.
///
/// Messages name paths and run ids, never file contents (which may hold metadata or log lines).
public struct SpoolError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; stable for programmatic checks.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        public var description: String { raw }

        /// Storing more would exceed the spool's size cap: ship or drop something first.
        public static let full = Code(raw: "full")
        /// A spooled file failed authentication or is malformed (modified, truncated, or sealed with another key).
        public static let corrupt = Code(raw: "corrupt")
        /// A file-system operation failed.
        public static let io = Code(raw: "io")
        /// The spool key is missing, the wrong size, or too widely readable.
        public static let invalidKey = Code(raw: "invalidKey")
        /// A run id that could escape the spool directory or is not a plain identifier.
        public static let invalidIdentifier = Code(raw: "invalidIdentifier")
        /// A log offset beyond the end of the spooled log.
        public static let invalidOffset = Code(raw: "invalidOffset")
    }

    public let code: Code
    /// A message safe to show to an operator: what went wrong and what to do.
    public let message: String
    public let underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
