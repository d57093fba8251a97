/// An error resolving a secret. Messages name the reference, never the value.
public struct SecretError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        public var description: String { raw }

        public static let invalidReference = Code(raw: "invalidReference")
        public static let notFound = Code(raw: "notFound")
        public static let unreadable = Code(raw: "unreadable")
        public static let invalidFormat = Code(raw: "invalidFormat")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
