/// An error of the Metadata module: a malformed record, chunk, manifest or name, or an I/O failure while
/// writing or reading an extraction.
public struct MetadataError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; stable for programmatic checks.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        public var description: String { raw }

        public static let invalidQualifiedName = Code(raw: "invalidQualifiedName")
        public static let invalidRecord = Code(raw: "invalidRecord")
        public static let invalidManifest = Code(raw: "invalidManifest")
        public static let corruptChunk = Code(raw: "corruptChunk")
        public static let checksumMismatch = Code(raw: "checksumMismatch")
        public static let io = Code(raw: "io")
        public static let compression = Code(raw: "compression")
        /// A sealing key that is not 32 bytes.
        public static let invalidKey = Code(raw: "invalidKey")
        /// A sealed file was sealed with a different key.
        public static let wrongKey = Code(raw: "wrongKey")
        /// A sealed file failed authentication or is malformed: modified, reordered, or not a sealed file.
        public static let tampered = Code(raw: "tampered")
        /// A sealed file ends before its final segment.
        public static let truncated = Code(raw: "truncated")
        /// A name pattern, record kind or field group of an extraction's filters that is not valid.
        public static let invalidFilter = Code(raw: "invalidFilter")
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
