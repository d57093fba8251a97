public import AWSSigV4
public import GoogleCloud

/// Google Cloud Storage V4 signed URLs: query-string authentication bound to one object, one method, the headers
/// the holder must send and a lifetime of at most seven days.
///
/// The signing is SigV4's under Google's names (`GOOG4`, `goog4_request`, `X-Goog-*`, location `auto`, service
/// `storage`): an HMAC key signs as AWS4 does; a service account signs the same string with RSA
/// (`GOOG4-RSA-SHA256`). URLs are byte for byte those of google-cloud-storage's `generate_signed_url(version="v4")`
/// for the same key, time and request.
public struct GCSSignedURLs: Sendable {
    /// Who signs.
    public enum Credential: Sendable {
        /// A service account key (`GOOG4-RSA-SHA256`).
        case serviceAccount(GoogleServiceAccountKey)
        /// An HMAC key: access id and secret (`GOOG4-HMAC-SHA256`).
        case hmac(AWSCredentials)
    }

    /// `https://storage.googleapis.com`, or another endpoint (private access, an emulator), no path.
    public var endpoint: String
    public var credential: Credential
    private let signer = SigV4Signer(region: "auto", service: "storage", flavor: .google)

    public init(credential: Credential, endpoint: String = "https://storage.googleapis.com") {
        self.credential = credential
        self.endpoint = endpoint
    }

    /// The longest lifetime Cloud Storage accepts.
    public static let maximumLifetimeSeconds = 604_800

    /// A signed URL for `method` on `object` in `bucket` (path style).
    ///
    /// - Parameters:
    ///   - headers: headers the holder must send with exactly these values (`Content-Type`,
    ///     `x-goog-content-length-range`, `x-goog-hash`, …); `host` is always signed.
    ///   - expires: seconds, 1 … 604,800.
    public func url(
        method: String, bucket: String, object: String, headers: [(name: String, value: String)] = [],
        query: [(name: String, value: String)] = [], date: AWSTimestamp, expires: Int
    ) throws -> String {
        guard (1...Self.maximumLifetimeSeconds).contains(expires) else {
            throw ObjectStoreError(
                .invalidArgument, "a signed URL lives 1 to \(Self.maximumLifetimeSeconds) seconds, not \(expires)")
        }
        let path = "/\(bucket)/\(object)"
        switch credential {
        case .hmac(let key):
            return signer.presignedURL(
                method: method, endpoint: endpoint, path: path, query: query, headers: headers, credentials: key,
                date: date, expires: expires)
        case .serviceAccount(let account):
            return try signer.presignedURL(
                method: method, endpoint: endpoint, path: path, query: query, headers: headers,
                algorithm: signer.flavor.rsaAlgorithm, credential: account.clientEmail, date: date, expires: expires
            ) { SigV4Signer.hex(try account.sign(Array($0.utf8))) }
        }
    }
}
