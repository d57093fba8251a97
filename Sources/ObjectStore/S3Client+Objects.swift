internal import AWSSigV4
internal import AsyncHTTPClient
internal import Crypto
public import NIOCore
internal import NIOHTTP1

extension S3Client {
    /// PutObject: stores `body` under `key` in one request, its SHA-256 in `x-amz-content-sha256` so S3 rejects
    /// a body that changed on the way (or a file that changed between hashing and sending).
    ///
    /// - Parameters:
    ///   - serverSideEncryption: asked of S3 for this object; nil leaves the bucket's default.
    ///   - metadata: user metadata (`x-amz-meta-NAME`), returned by `headObject`; names lower case, values ASCII.
    /// - Throws: `ObjectStoreError`.
    @discardableResult
    public func putObject(
        key: String, body: S3Body, contentType: String? = nil, serverSideEncryption: ServerSideEncryption? = nil,
        metadata: [String: String] = [:]
    ) async throws -> S3UploadResult {
        try Self.validate(key: key)
        let length: Int64
        let sha256: String
        let requestBody: HTTPClientRequest.Body
        switch body {
        case .bytes(let bytes):
            length = Int64(bytes.count)
            sha256 = SHA256.hash(data: bytes).hexString
            requestBody = .bytes(ByteBuffer(bytes: bytes))
        case .file(let path):
            (length, sha256) = try FileChunks.sizeAndSHA256(path: path)
            requestBody = .stream(FileChunks(path: path), length: .known(length))
        }
        var headers = (serverSideEncryption?.headers ?? []) + Self.metadataHeaders(metadata)
        if let contentType { headers.append(("content-type", contentType)) }
        let response = try await send(
            Request(
                operation: "PutObject", method: .PUT, key: key, headers: headers, payloadHash: sha256,
                body: requestBody, timeout: configuration.transferTimeout))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return S3UploadResult(
            key: key, bytes: length, sha256: sha256, etag: response.headers.first(name: "etag")?.unquotedETag,
            serverSideEncryption: response.headers.first(name: "x-amz-server-side-encryption"), parts: 0)
    }

    /// GetObject: hands the object's bytes to `receive` piece by piece as they arrive, never holding it whole.
    ///
    /// An error thrown by `receive` ends the download and is rethrown unchanged.
    ///
    /// - Parameter range: an inclusive byte range, or nil for the whole object.
    /// - Returns: what S3 said about the object (its `bytes` is the length of the part sent).
    /// - Throws: `ObjectStoreError` (`NoSuchKey` for a missing object), or what `receive` threw.
    @discardableResult
    public func getObject(
        key: String, range: ClosedRange<Int64>? = nil, _ receive: (ByteBuffer) async throws -> Void
    ) async throws -> S3ObjectInfo {
        try Self.validate(key: key)
        let headers = range.map { [("range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        let response = try await send(
            Request(
                operation: "GetObject", method: .GET, key: key, headers: headers,
                timeout: configuration.transferTimeout))
        let info = Self.info(key: key, headers: response.headers)
        try await response.stream(downloading: describe(key), receive)
        return info
    }

    /// GetObject into memory, for small objects (manifests); refuses objects larger than `limit` bytes.
    ///
    /// - Throws: `ObjectStoreError` (`invalidResponse` when the object exceeds `limit`).
    public func getObjectBytes(key: String, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await getObject(key: key) { piece in
            guard bytes.count + piece.readableBytes <= limit else {
                throw ObjectStoreError(
                    .invalidResponse, "\(describe(key)) is larger than the \(limit) bytes expected of it")
            }
            bytes += piece.readableBytesView
        }
        return bytes
    }

    /// HeadObject: the object's size, entity tag, encryption, type and user metadata.
    ///
    /// - Throws: `ObjectStoreError` with code `NoSuchKey` when it does not exist.
    public func headObject(key: String) async throws -> S3ObjectInfo {
        try Self.validate(key: key)
        let response = try await send(
            Request(operation: "HeadObject", method: .HEAD, key: key, timeout: configuration.requestTimeout))
        return Self.info(key: key, headers: response.headers)
    }

    /// DeleteObject. Deleting a missing key succeeds, as S3 defines it.
    ///
    /// - Throws: `ObjectStoreError`.
    public func deleteObject(key: String) async throws {
        try Self.validate(key: key)
        let response = try await send(
            Request(operation: "DeleteObject", method: .DELETE, key: key, timeout: configuration.requestTimeout))
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }

    static func info(key: String, headers: HTTPHeaders) -> S3ObjectInfo {
        S3ObjectInfo(
            key: key, bytes: headers.first(name: "content-length").flatMap { Int64($0) } ?? 0,
            etag: headers.first(name: "etag")?.unquotedETag, contentType: headers.first(name: "content-type"),
            serverSideEncryption: headers.first(name: "x-amz-server-side-encryption"),
            kmsKeyId: headers.first(name: "x-amz-server-side-encryption-aws-kms-key-id"),
            lastModified: headers.first(name: "last-modified"),
            metadata: Dictionary(
                headers.compactMap { name, value in
                    let lower = name.lowercased()
                    return lower.hasPrefix(metadataPrefix)
                        ? (String(lower.dropFirst(metadataPrefix.count)), value) : nil
                },
                uniquingKeysWith: { first, _ in first }))
    }

    static let metadataPrefix = "x-amz-meta-"

    /// `x-amz-meta-NAME` headers, in a stable order (they are signed).
    static func metadataHeaders(_ metadata: [String: String]) -> [(name: String, value: String)] {
        metadata.sorted { $0.key < $1.key }.map { (metadataPrefix + $0.key.lowercased(), $0.value) }
    }
}
