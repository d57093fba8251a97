internal import Crypto
internal import Foundation
internal import Metadata
internal import NIOCore
public import ObjectStore

/// A `BlobStore` in an S3 bucket under a key prefix, every object written with server-side encryption, for control
/// planes with several replicas.
///
/// Agents upload straight into the bucket with SigV4 pre-signed PUT URLs that sign the object's key, its
/// `Content-Length`, its `x-amz-checksum-sha256` (which S3 verifies against the body) and the encryption headers,
/// so a URL can carry nothing but the granted content. `put` streams a body of unknown length as a multipart
/// upload holding one part in memory (a single PUT when it fits in one part) and aborts it on failure.
public struct S3BlobStore: CloudBlobStore, UploadPresigner {
    /// The client for the bucket.
    public let client: S3Client
    /// Prepended to every blob key; empty or ending in `/`.
    public let prefix: String
    /// The encryption every object is written with.
    public let serverSideEncryption: ServerSideEncryption
    /// The multipart part size of `put` (the memory one `put` holds at most).
    public let partSize: Int

    /// Creates a store.
    ///
    /// - Parameters:
    ///   - prefix: a key prefix; a missing trailing `/` is added.
    ///   - partSize: at least S3's 5 MiB unless the server allows smaller parts (tests).
    public init(
        client: S3Client, prefix: String = "", serverSideEncryption: ServerSideEncryption = .aes256,
        partSize: Int = 16 * 1024 * 1024
    ) {
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.serverSideEncryption = serverSideEncryption
        self.partSize = max(1, partSize)
    }

    /// Parses `s3://bucket[/prefix]`.
    ///
    /// - Throws: `BlobError` with code `invalidKey` when the location is not of that form.
    public static func parseLocation(_ text: String) throws -> (bucket: String, prefix: String) {
        guard text.hasPrefix("s3://") else {
            throw BlobError(.invalidKey, "an S3 blob store is given as s3://BUCKET[/PREFIX]")
        }
        let rest = text.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        guard !bucket.isEmpty else { throw BlobError(.invalidKey, "s3:// names no bucket") }
        return (bucket, prefix)
    }

    public func put(
        key: String, from source: some AsyncSequence<[UInt8], any Error> & Sendable
    ) async throws -> BlobInfo {
        let objectKey = try objectName(key)
        var hasher = SHA256()
        var total: Int64 = 0
        var pending: [UInt8] = []
        var uploadId: String?
        var parts: [S3CompletedPart] = []
        do {
            for try await piece in source {
                hasher.update(data: piece)
                total += Int64(piece.count)
                pending += piece
                while pending.count >= partSize {
                    if uploadId == nil {
                        uploadId = try await client.createMultipartUpload(
                            key: objectKey, serverSideEncryption: serverSideEncryption)
                    }
                    parts.append(
                        try await client.uploadPart(
                            key: objectKey, uploadId: uploadId!, partNumber: parts.count + 1,
                            bytes: Array(pending[0..<partSize])))
                    pending.removeFirst(partSize)
                }
            }
            if let uploadId {
                if !pending.isEmpty || parts.isEmpty {
                    parts.append(
                        try await client.uploadPart(
                            key: objectKey, uploadId: uploadId, partNumber: parts.count + 1, bytes: pending))
                }
                _ = try await client.completeMultipartUpload(key: objectKey, uploadId: uploadId, parts: parts)
            } else {
                try await client.putObject(
                    key: objectKey, body: .bytes(pending), serverSideEncryption: serverSideEncryption)
            }
        } catch {
            if let uploadId { try? await client.abortMultipartUpload(key: objectKey, uploadId: uploadId) }
            throw Self.blobError(error, key: key)
        }
        return BlobInfo(bytes: total, sha256: Hex.encode(hasher.finalize()))
    }

    func download(_ name: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try await client.getObject(key: name, receive)
    }

    func head(_ name: String) async throws { _ = try await client.headObject(key: name) }

    func remove(_ name: String) async throws { try await client.deleteObject(key: name) }

    public func presignedUpload(
        key: String, bytes: Int64, sha256: String, expiresIn: Int
    ) async throws -> PresignedUpload {
        let objectKey = try objectName(key)
        guard let digest = Self.decodeHex(sha256), digest.count == 32 else {
            throw BlobError(.invalidKey, "a pre-signed upload needs a hex SHA-256")
        }
        let headers =
            [
                ("Content-Length", String(bytes)),
                ("x-amz-checksum-sha256", Data(digest).base64EncodedString()),
            ] + serverSideEncryption.headers.map { ($0.name, $0.value) }
        do {
            let url = try await client.presignedURL(
                method: "PUT", key: objectKey, expiresIn: expiresIn,
                headers: headers.map { (name: $0.0, value: $0.1) })
            return PresignedUpload(url: url, headers: Dictionary(uniqueKeysWithValues: headers))
        } catch {
            throw Self.blobError(error, key: key)
        }
    }

    /// Lower-case or upper-case hex to bytes; nil for anything else.
    static func decodeHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(byte)
        }
        return bytes
    }
}
