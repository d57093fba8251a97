/// An error that ends an extraction. Messages are one line, actionable, and never contain a secret.
public struct ConnectorError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        public var description: String { raw }

        public static let unknownScheme = Code(raw: "unknownScheme")
        public static let invalidSource = Code(raw: "invalidSource")
        public static let unreachable = Code(raw: "unreachable")
        public static let authenticationFailed = Code(raw: "authenticationFailed")
        public static let databaseNotFound = Code(raw: "databaseNotFound")
        public static let permissionDenied = Code(raw: "permissionDenied")
        public static let timeout = Code(raw: "timeout")
        public static let unreadableFile = Code(raw: "unreadableFile")
        public static let tls = Code(raw: "tls")
        public static let queryFailed = Code(raw: "queryFailed")
        public static let output = Code(raw: "output")
    }

    public let code: Code
    public let message: String
    public let underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
