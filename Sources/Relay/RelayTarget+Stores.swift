// The Relay module maps a connection's bucket relay (the protocol's `RelayTarget`) onto the object store that serves
// it, and owns the layout of a run's objects in the bucket: the agent writes by it and the control plane checks and
// reads by it. The object stores themselves know nothing of relays.

public import AWSSigV4
public import AsyncHTTPClient
public import GoogleCloud
public import NIOCore
public import NIOSSL
public import ObjectStore
public import OutpostProtocol

extension RelayTarget {
    /// Where a run's objects go in a relay bucket: `<prefix>/<connection>/<run>/`, the prefix the control plane
    /// checks every reported key against (the agent writes under it, so both sides use this one function).
    ///
    /// A non-empty prefix is a folder: `chaos` and `chaos/` both give `chaos/<connection>/…`, never
    /// `chaos<connection>/…`. An empty prefix puts the connection's folder at the bucket's root.
    public func runPrefix(connectionId: String, runId: String) -> String {
        folder + connectionId + "/" + runId + "/"
    }

    /// The prefix as a folder: empty, or ending in `/`.
    public var folder: String { prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/" }

    /// `s3://bucket/key`, `gs://bucket/key` or `azure://account/container/key`, for messages.
    public func location(_ key: String = "") -> String {
        switch kind {
        case .s3: "s3://\(bucket)/\(key)"
        case .gcs: "gs://\(bucket)/\(key)"
        case .azureBlob: "azure://\(account ?? "")/\(bucket)/\(key)"
        }
    }
}

extension S3Configuration {
    /// The configuration for a connection's relay bucket: its endpoint (nil for AWS) and region, path-style
    /// addressing for S3-compatible endpoints, and the given credentials (the agent's own, or the control plane's
    /// read-only ones).
    public init(relay: RelayTarget, credentials: AWSCredentialSource, tlsConfiguration: TLSConfiguration? = nil) {
        self.init(
            endpoint: relay.endpoint, region: relay.region ?? "us-east-1", credentials: credentials,
            tlsConfiguration: tlsConfiguration)
    }
}

extension ServerSideEncryption {
    /// The encryption a relay target asks for (`AES256`, or `aws:kms` with an optional key id).
    ///
    /// - Throws: `ObjectStoreError` with code `invalidArgument` for any other value.
    public init(relay: RelayTarget) throws(ObjectStoreError) {
        try self.init(name: relay.serverSideEncryption, kmsKeyId: relay.kmsKeyId)
    }
}

extension S3Client {
    /// A client for a connection's relay bucket.
    ///
    /// - Throws: `ObjectStoreError` with code `invalidArgument` for a bad bucket, region or endpoint.
    /// - Parameter tlsConfiguration: the trust roots for an endpoint with a private CA; nil: the system's.
    public init(
        relay: RelayTarget, credentials: AWSCredentialSource, httpClient: HTTPClient = .shared,
        tlsConfiguration: TLSConfiguration? = nil
    ) throws {
        try self.init(
            bucket: relay.bucket,
            configuration: S3Configuration(relay: relay, credentials: credentials, tlsConfiguration: tlsConfiguration),
            httpClient: httpClient)
    }
}

extension GCSClient {
    /// A client for a connection's Cloud Storage relay bucket, on its endpoint (Google's when none is named).
    ///
    /// - Throws: `ObjectStoreError` with code `invalidArgument` for a bad bucket name or endpoint.
    /// - Parameter tlsConfiguration: nil leaves the HTTP client's own (the agent's network, with its CA bundle).
    public init(
        relay: RelayTarget, tokens: GoogleAccessTokens, scope: String, httpClient: HTTPClient = .shared,
        tlsConfiguration: TLSConfiguration? = GCSClient.defaultTLS
    ) throws {
        try self.init(
            bucket: relay.bucket, endpoint: relay.endpoint ?? GCSClient.defaultEndpoint, tokens: tokens, scope: scope,
            httpClient: httpClient, tlsConfiguration: tlsConfiguration)
    }
}

/// Reads a relay bucket's objects, whatever the store: the control plane's side of a relay.
public protocol RelayBucketReader: Sendable {
    /// Hands the object's bytes to `receive` piece by piece; throws `ObjectStoreError` (`isNotFound` when absent).
    func read(key: String, _ receive: (ByteBuffer) async throws -> Void) async throws
}

extension S3Client: RelayBucketReader {
    public func read(key: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await getObject(key: key, receive)
    }
}

extension AzureBlobClient {
    /// A client for a connection's Azure Blob Storage container, on its endpoint (the account's public one when
    /// none is named).
    ///
    /// - Parameter authorization: Entra ID tokens (the control plane's reads, the agent by default) or the account
    ///   key (an agent given one).
    /// - Throws: `ObjectStoreError` with code `invalidArgument` for a bad account, container or endpoint.
    public init(
        relay: RelayTarget, authorization: Authorization, httpClient: HTTPClient = .shared,
        tlsConfiguration: TLSConfiguration? = nil
    ) throws {
        try self.init(
            account: relay.account ?? "", container: relay.bucket, accountURL: relay.endpoint,
            authorization: authorization, httpClient: httpClient, tlsConfiguration: tlsConfiguration,
            encryptionScope: relay.encryptionScope)
    }
}

extension AzureBlobClient: RelayBucketReader {
    public func read(key: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await download(name: key, receive)
    }
}

extension GCSClient: RelayBucketReader {
    public func read(key: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await download(name: key, receive)
    }
}
