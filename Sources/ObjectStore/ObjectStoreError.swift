/// Every failure of the ObjectStore module: an S3 error answer, a network failure, a bad argument or an answer
/// that cannot be read.
///
/// S3's own error codes (`NoSuchKey`, `AccessDenied`, `SignatureDoesNotMatch`, …) are kept as they come, so a
/// caller can match any of them; local failures get codes of their own. The description is safe to show and to
/// log: it names the operation, bucket and key, never a credential, a signature or a pre-signed URL.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    /// What went wrong: S3's error code verbatim, or one of the local codes below.
    public struct Code: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The code as S3 spells it (`NoSuchKey`), or a local code in lower camel case (`network`).
        public let rawValue: String

        /// A code by its name.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// A code by its name, as a literal.
        public init(stringLiteral value: String) { self.rawValue = value }
        /// The code's name.
        public var description: String { rawValue }

        /// The object does not exist (also a 404 answer to `HEAD`, which has no body).
        public static let noSuchKey: Code = "NoSuchKey"
        /// The bucket does not exist.
        public static let noSuchBucket: Code = "NoSuchBucket"
        /// The multipart upload does not exist (completed or aborted).
        public static let noSuchUpload: Code = "NoSuchUpload"
        /// The credentials may not do this.
        public static let accessDenied: Code = "AccessDenied"
        /// The secret key does not match the access key id.
        public static let signatureDoesNotMatch: Code = "SignatureDoesNotMatch"
        /// The access key id is unknown.
        public static let invalidAccessKeyId: Code = "InvalidAccessKeyId"
        /// S3 asks the client to slow down.
        public static let slowDown: Code = "SlowDown"
        /// The request body arrived too slowly.
        public static let requestTimeout: Code = "RequestTimeout"
        /// The connection failed or timed out before an answer arrived.
        public static let network: Code = "network"
        /// The TLS handshake failed: an untrusted or mismatched certificate, or a server older than TLS 1.2.
        /// Not retryable: trying again meets the same certificate.
        public static let tls: Code = "tls"
        /// An argument or a configuration value is invalid; nothing was sent.
        public static let invalidArgument: Code = "invalidArgument"
        /// No credentials could be found or obtained.
        public static let credentials: Code = "credentials"
        /// The answer could not be read (not S3's XML, or too large).
        public static let invalidResponse: Code = "invalidResponse"
        /// A local file could not be read or written.
        public static let file: Code = "file"
        /// A precondition of the request (an object's generation, an entity tag) does not hold.
        public static let preconditionFailed: Code = "PreconditionFailed"
        /// A resumable upload's session is gone (Cloud Storage keeps one a week); the upload starts again.
        public static let uploadSessionExpired: Code = "uploadSessionExpired"
        /// An error status without an S3 error body.
        public static let httpStatus: Code = "httpStatus"
    }

    /// What went wrong.
    public var code: Code
    /// The HTTP status of S3's answer, when there was one.
    public var status: Int?
    /// What happened and, where it helps, what to do.
    public var message: String
    /// S3's request id (`x-amz-request-id`), for support tickets.
    public var requestId: String?
    /// A lower-level error (network, file system), when there was one.
    public var underlying: (any Error & Sendable)?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, status: Int? = nil, requestId: String? = nil,
        underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.requestId = requestId
        self.underlying = underlying
    }

    /// Whether trying the same request again later may succeed: network failures, 408, 429, 500, 502, 503, 504,
    /// `SlowDown`, `RequestTimeout` and an expired upload session. The one place this is decided.
    public var isRetryable: Bool {
        if code == .network || code == .slowDown || code == .requestTimeout || code == .uploadSessionExpired {
            return true
        }
        if let status { return [408, 429, 500, 502, 503, 504].contains(status) }
        return false
    }

    /// Whether the object, bucket or upload named does not exist.
    public var isNotFound: Bool {
        code == .noSuchKey || code == .noSuchBucket || code == .noSuchUpload
    }

    /// `<message>: <code> (HTTP <status>, request id <id>)`.
    public var description: String {
        var details = [code.rawValue]
        if let status { details.append("HTTP \(status)") }
        if let requestId { details.append("request id \(requestId)") }
        return "\(message): \(details.joined(separator: ", "))"
    }
}
