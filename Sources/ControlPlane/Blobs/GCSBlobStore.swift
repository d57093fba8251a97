internal import AWSSigV4
internal import Crypto
internal import Foundation
internal import Metadata
internal import NIOCore
public import ObjectStore

/// A `BlobStore` in a Google Cloud Storage bucket under a prefix, for control planes with several replicas. Cloud
/// Storage encrypts every object at rest.
///
/// Agents upload straight into the bucket with V4 signed URLs (XML API `PUT`) that sign the object's name, an
/// exact `x-goog-content-length-range` (Cloud Storage refuses any other size) and the body's SHA-256 as
/// `x-goog-content-sha256` (the signed payload hash, which it checks against the body), so a URL carries nothing
/// but the granted content. `put` streams a body of unknown length as a resumable upload holding one chunk in
/// memory.
public struct GCSBlobStore: CloudBlobStore, UploadPresigner {
    /// The client for the bucket (the server's own identity).
    public let client: GCSClient
    /// Prepended to every blob key; empty or ending in `/`.
    public let prefix: String
    /// Who signs upload URLs.
    public let signer: GCSSignedURLs
    /// How `put` sends.
    public let policy: GCSUploadPolicy
    let now: @Sendable () -> Int64

    /// Creates a store.
    ///
    /// - Parameters:
    ///   - prefix: a key prefix; a missing trailing `/` is added.
    ///   - signer: signs upload URLs; its endpoint is where agents send them.
    public init(
        client: GCSClient, prefix: String = "", signer: GCSSignedURLs, policy: GCSUploadPolicy = .standard,
        now: (@Sendable () -> Int64)? = nil
    ) {
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.signer = signer
        self.policy = policy
        self.now = now ?? { Int64(Date().timeIntervalSince1970) }
    }

    /// Parses `gs://bucket[/prefix]`.
    ///
    /// - Throws: `BlobError` with code `invalidKey` when the location is not of that form.
    public static func parseLocation(_ text: String) throws -> (bucket: String, prefix: String) {
        guard text.hasPrefix("gs://") else {
            throw BlobError(.invalidKey, "a Cloud Storage blob store is given as gs://BUCKET[/PREFIX]")
        }
        let rest = text.dropFirst("gs://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        guard GCSClient.isValidBucketName(bucket) else {
            throw BlobError(.invalidKey, "gs:// names no valid Cloud Storage bucket ('\(bucket)')")
        }
        return (bucket, prefix)
    }

    public func put(
        key: String, from source: some AsyncSequence<[UInt8], any Error> & Sendable
    ) async throws -> BlobInfo {
        let name = try objectName(key)
        var iterator = source.makeAsyncIterator()
        var hasher = SHA256()
        var total: Int64 = 0
        do {
            try await client.upload(name: name, policy: policy) {
                guard let piece = try await iterator.next() else { return nil }
                hasher.update(data: piece)
                total += Int64(piece.count)
                return piece
            }
        } catch {
            throw Self.blobError(error, key: key)
        }
        return BlobInfo(bytes: total, sha256: Hex.encode(hasher.finalize()))
    }

    func download(_ name: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await client.download(name: name, receive)
    }

    func head(_ name: String) async throws { _ = try await client.object(name: name) }

    func remove(_ name: String) async throws { try await client.delete(name: name) }

    public func presignedUpload(
        key: String, bytes: Int64, sha256: String, expiresIn: Int
    ) async throws -> PresignedUpload {
        let name = try objectName(key)
        guard let digest = S3BlobStore.decodeHex(sha256), digest.count == 32 else {
            throw BlobError(.invalidKey, "a pre-signed upload needs a hex SHA-256")
        }
        let headers = [
            (name: "x-goog-content-length-range", value: "\(bytes),\(bytes)"),
            (name: "x-goog-content-sha256", value: Hex.encode(digest)),
        ]
        do {
            let url = try await signer.url(
                method: "PUT", bucket: client.bucket, object: name, headers: headers,
                date: AWSTimestamp(secondsSince1970: now()), expires: expiresIn)
            return PresignedUpload(
                url: url, headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.name, $0.value) }))
        } catch {
            throw Self.blobError(error, key: key)
        }
    }
}
