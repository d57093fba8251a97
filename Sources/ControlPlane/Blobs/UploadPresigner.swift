/// A blob store that agents can upload into directly, with URLs it pre-signs itself (S3: SigV4 query
/// authentication), instead of through the control plane's own upload endpoint.
///
/// The control plane asks the store for each grant; a store without this capability (the local folder) gets the
/// server's HMAC-signed URLs. Either way a grant is bound to one object, its exact size and its SHA-256, and the
/// ingestion verifies every file against the manifest again before anything is published.
public protocol UploadPresigner: Sendable {
    /// A URL and the headers the upload must carry exactly, valid for `expiresIn` seconds.
    ///
    /// - Parameters:
    ///   - key: the blob key (`<tenant>/<run>/<file>`).
    ///   - bytes: the exact size the upload must have.
    ///   - sha256: the lower-case hex SHA-256 the upload must have.
    func presignedUpload(key: String, bytes: Int64, sha256: String, expiresIn: Int) async throws -> PresignedUpload
}

/// A pre-signed upload: where to PUT and which headers to send with exactly these values.
public struct PresignedUpload: Sendable, Equatable {
    /// The URL to PUT to.
    public var url: String
    /// Headers that are part of the signature.
    public var headers: [String: String]

    /// Creates an upload description.
    public init(url: String, headers: [String: String]) {
        self.url = url
        self.headers = headers
    }
}
