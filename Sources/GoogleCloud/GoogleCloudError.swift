/// A failure obtaining a Google credential or token. Messages name the account, the endpoint and Google's error
/// code, never a key, an assertion or a token.
public struct GoogleCloudError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A key file or setting that cannot be used.
        case credentials
        /// The token endpoint or metadata server refused or could not be reached.
        case token
    }

    public var code: Code
    public var message: String
    /// The HTTP status of the answer, when there was one.
    public var status: Int?

    public init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { message }
}
