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
        /// A service account whose key stays with Google: `sign` returns the RSA signature of its input (IAM
        /// Credentials' `signBlob`, `GOOG4-RSA-SHA256`), for a server under workload identity.
        case remote(email: String, sign: @Sendable ([UInt8]) async throws -> [UInt8])
    }

    /// `https://storage.googleapis.com`, or another endpoint (private access, an emulator), no path.
    public var endpoint: String
    public var credential: Credential
    private let signer = SigV4Signer(region: "auto", service: "storage", flavor: .google)

    public init(credential: Credential, endpoint: String = "https://storage.googleapis.com") {
        self.credential = credential
        self.endpoint = endpoint
    }

    /// Who signs, for logs: the account's email or the HMAC key's access id.
    public var signerName: String {
        switch credential {
        case .serviceAccount(let key): key.clientEmail
        case .hmac(let key): key.accessKeyId
        case .remote(let email, _): email + " (IAM signBlob)"
        }
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
    ) async throws -> String {
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
                algorithm: signer.flavor.rsaAlgorithm, credential: account.clientEmail, date: date, expires: expires,
                sign: { SigV4Signer.hex(try account.sign(Array($0.utf8))) })
        case .remote(let email, let sign):
            return try await signer.presignedURL(
                method: method, endpoint: endpoint, path: path, query: query, headers: headers,
                algorithm: signer.flavor.rsaAlgorithm, credential: email, date: date, expires: expires,
                signRemotely: { SigV4Signer.hex(try await sign(Array($0.utf8))) })
        }
    }
}
