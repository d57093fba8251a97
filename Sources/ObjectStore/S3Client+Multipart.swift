internal import AWSSigV4
internal import AsyncHTTPClient
internal import Crypto
internal import Logging
internal import NIOCore
internal import NIOHTTP1

/// How `upload(file:…)` splits files: one PUT up to the threshold, multipart parts of `partSize` above it.
public struct S3UploadPolicy: Sendable, Equatable {
    /// S3's smallest part (all but the last): 5 MiB.
    public static let s3MinimumPartSize = 5 * 1024 * 1024
    /// S3's largest number of parts in one upload.
    public static let maximumParts = 10_000

    /// Bytes per part; the memory one upload holds at most.
    public let partSize: Int
    /// Files of at most this many bytes go in a single streamed PUT.
    public let multipartThreshold: Int64

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - partSize: at least `minimumPartSize`.
    ///   - multipartThreshold: at least 1 byte; files above it are uploaded in parts.
    ///   - minimumPartSize: S3's floor. Lower it only for a test server that allows smaller parts (moto with
    ///     `S3_UPLOAD_PART_MIN_SIZE`): real S3 refuses the upload at completion.
    /// - Throws: `ObjectStoreError` with code `invalidArgument`.
    public init(
        partSize: Int = 16 * 1024 * 1024, multipartThreshold: Int64 = 64 * 1024 * 1024,
        minimumPartSize: Int = S3UploadPolicy.s3MinimumPartSize
    ) throws {
        guard partSize >= minimumPartSize, partSize <= 5 * 1024 * 1024 * 1024 else {
            throw ObjectStoreError(
                .invalidArgument, "the multipart part size must be between \(minimumPartSize) bytes and 5 GiB")
        }
        guard multipartThreshold >= 1 else {
            throw ObjectStoreError(.invalidArgument, "the multipart threshold must be at least 1 byte")
        }
        self.partSize = partSize
        self.multipartThreshold = multipartThreshold
    }

    /// 16 MiB parts above 64 MiB.
    public static let standard = try! S3UploadPolicy()
}

/// One uploaded part, as CompleteMultipartUpload needs it.
public struct S3CompletedPart: Sendable, Equatable {
    /// 1 … 10,000.
    public var partNumber: Int
    /// The part's entity tag as UploadPart returned it (without quotes).
    public var etag: String

    /// Creates a part record.
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

extension S3Client {
    /// Uploads a local file: a single streamed PUT up to the policy's threshold, a multipart upload above it with
    /// one part in memory at a time. A failed multipart upload is aborted so no parts linger (and cost).
    ///
    /// - Returns: the bytes sent, their SHA-256 (of the whole file), S3's entity tag and echoed encryption.
    /// - Throws: `ObjectStoreError`; `file` when the file cannot be read or changes size while being sent.
    @discardableResult
    public func upload(
        file path: String, key: String, contentType: String? = nil,
        serverSideEncryption: ServerSideEncryption? = nil, metadata: [String: String] = [:],
        policy: S3UploadPolicy = .standard
    ) async throws -> S3UploadResult {
        try Self.validate(key: key)
        let reader = try FileReader(path: path)
        let size = try reader.size()
        guard size > policy.multipartThreshold else {
            return try await putObject(
                key: key, body: .file(path: path), contentType: contentType, serverSideEncryption: serverSideEncryption,
                metadata: metadata)
        }
        return try await uploadMultipart(
            key: key, size: size, describedAs: path, contentType: contentType,
            serverSideEncryption: serverSideEncryption, metadata: metadata, policy: policy
        ) { count in try reader.read(upTo: count) }
    }

    /// Uploads `size` bytes that `read` hands over in pieces (`read(n)` returns up to n bytes, empty at the end),
    /// for sources that are not plain files — the agent's sealed spool decrypts as it reads. One PUT up to the
    /// policy's threshold (the bytes held in memory), a multipart upload above it with one part in memory at a time.
    ///
    /// - Throws: `ObjectStoreError`; `file` when `read` delivers more or fewer bytes than `size`.
    @discardableResult
    public func upload(
        key: String, size: Int64, contentType: String? = nil, serverSideEncryption: ServerSideEncryption? = nil,
        metadata: [String: String] = [:], policy: S3UploadPolicy = .standard, read: (Int) throws -> [UInt8]
    ) async throws -> S3UploadResult {
        try Self.validate(key: key)
        guard size > policy.multipartThreshold else {
            let bytes = try read(Int(size) + 1)
            guard bytes.count == size else {
                throw ObjectStoreError(.file, "\(describe(key)) has \(bytes.count) bytes, not the \(size) announced")
            }
            return try await putObject(
                key: key, body: .bytes(bytes), contentType: contentType, serverSideEncryption: serverSideEncryption,
                metadata: metadata)
        }
        return try await uploadMultipart(
            key: key, size: size, describedAs: describe(key), contentType: contentType,
            serverSideEncryption: serverSideEncryption, metadata: metadata, policy: policy, read: read)
    }

    private func uploadMultipart(
        key: String, size: Int64, describedAs name: String, contentType: String?,
        serverSideEncryption: ServerSideEncryption?, metadata: [String: String], policy: S3UploadPolicy,
        read: (Int) throws -> [UInt8]
    ) async throws -> S3UploadResult {
        let partCount = Int((size + Int64(policy.partSize) - 1) / Int64(policy.partSize))
        guard partCount <= S3UploadPolicy.maximumParts else {
            throw ObjectStoreError(
                .invalidArgument,
                "\(name) needs \(partCount) parts of \(policy.partSize) bytes, more than S3's \(S3UploadPolicy.maximumParts): use larger parts"
            )
        }
        let uploadId = try await createMultipartUpload(
            key: key, contentType: contentType, serverSideEncryption: serverSideEncryption, metadata: metadata)
        do {
            var hasher = SHA256()
            var total: Int64 = 0
            var parts: [S3CompletedPart] = []
            while true {
                let bytes = try read(policy.partSize)
                if bytes.isEmpty { break }
                hasher.update(data: bytes)
                total += Int64(bytes.count)
                guard total <= size else { break }
                let part = try await uploadPart(
                    key: key, uploadId: uploadId, partNumber: parts.count + 1, bytes: bytes)
                parts.append(part)
            }
            guard total == size else {
                throw ObjectStoreError(.file, "\(name) changed size while it was being uploaded")
            }
            let completed = try await completeMultipartUpload(key: key, uploadId: uploadId, parts: parts)
            return S3UploadResult(
                key: key, bytes: total, sha256: hasher.finalize().hexString, etag: completed.etag,
                serverSideEncryption: completed.serverSideEncryption, parts: parts.count)
        } catch {
            do {
                try await abortMultipartUpload(key: key, uploadId: uploadId)
            } catch let abortError {
                // The upload's own failure is what the caller must see; a lingering upload is an operator matter
                // (a bucket lifecycle rule for incomplete uploads cleans it up).
                logger.warning(
                    "s3.multipart.abort_failed",
                    metadata: ["s3.key": .string(key), "error": .string(String(describing: abortError))])
            }
            throw error
        }
    }

    /// CreateMultipartUpload: starts an upload and returns its id. Encryption and user metadata are decided here,
    /// not per part.
    ///
    /// - Throws: `ObjectStoreError`.
    public func createMultipartUpload(
        key: String, contentType: String? = nil, serverSideEncryption: ServerSideEncryption? = nil,
        metadata: [String: String] = [:]
    ) async throws -> String {
        try Self.validate(key: key)
        var headers = (serverSideEncryption?.headers ?? []) + Self.metadataHeaders(metadata)
        if let contentType { headers.append(("content-type", contentType)) }
        let response = try await send(
            Request(
                operation: "CreateMultipartUpload", method: .POST, key: key, query: [("uploads", "")],
                headers: headers, timeout: configuration.requestTimeout))
        let xml = try await Self.xml(response, operation: "CreateMultipartUpload")
        guard let uploadId = xml.root.value("UploadId"), !uploadId.isEmpty else {
            throw ObjectStoreError(.invalidResponse, "S3 CreateMultipartUpload of \(describe(key)) gave no UploadId")
        }
        return uploadId
    }

    /// UploadPart: one part (at least 5 MiB unless it is the last), hashed for `x-amz-content-sha256`.
    ///
    /// - Throws: `ObjectStoreError`.
    public func uploadPart(
        key: String, uploadId: String, partNumber: Int, bytes: [UInt8]
    ) async throws
        -> S3CompletedPart
    {
        guard (1...S3UploadPolicy.maximumParts).contains(partNumber) else {
            throw ObjectStoreError(.invalidArgument, "a part number must be between 1 and 10000")
        }
        let response = try await send(
            Request(
                operation: "UploadPart", method: .PUT, key: key,
                query: [("partNumber", String(partNumber)), ("uploadId", uploadId)],
                payloadHash: SHA256.hash(data: bytes).hexString, body: .bytes(ByteBuffer(bytes: bytes)),
                timeout: configuration.transferTimeout))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard let etag = response.headers.first(name: "etag") else {
            throw ObjectStoreError(.invalidResponse, "S3 UploadPart \(partNumber) of \(describe(key)) gave no ETag")
        }
        return S3CompletedPart(partNumber: partNumber, etag: etag.unquotedETag)
    }

    /// CompleteMultipartUpload: joins the parts, in part-number order, into the object.
    ///
    /// - Returns: the object's entity tag and the encryption S3 echoed.
    /// - Throws: `ObjectStoreError`, also when S3 reports an error inside a 200 answer.
    public func completeMultipartUpload(
        key: String, uploadId: String, parts: [S3CompletedPart]
    ) async throws
        -> (etag: String?, serverSideEncryption: String?)
    {
        guard !parts.isEmpty else {
            throw ObjectStoreError(.invalidArgument, "a multipart upload needs at least one part")
        }
        let body =
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            + parts.sorted { $0.partNumber < $1.partNumber }.map {
                "<Part><PartNumber>\($0.partNumber)</PartNumber><ETag>\(S3XML.escape("\"\($0.etag)\""))</ETag></Part>"
            }.joined() + "</CompleteMultipartUpload>"
        let bytes = Array(body.utf8)
        let response = try await send(
            Request(
                operation: "CompleteMultipartUpload", method: .POST, key: key, query: [("uploadId", uploadId)],
                headers: [("content-type", "application/xml")], payloadHash: SHA256.hash(data: bytes).hexString,
                body: .bytes(ByteBuffer(bytes: bytes)), timeout: configuration.transferTimeout))
        let encryption = response.headers.first(name: "x-amz-server-side-encryption")
        let xml = try await Self.xml(response, operation: "CompleteMultipartUpload")
        return (xml.root.value("ETag")?.unquotedETag, encryption)
    }

    /// AbortMultipartUpload: discards the parts uploaded so far.
    ///
    /// - Throws: `ObjectStoreError` (`NoSuchUpload` when it was already completed or aborted).
    public func abortMultipartUpload(key: String, uploadId: String) async throws {
        let response = try await send(
            Request(
                operation: "AbortMultipartUpload", method: .DELETE, key: key, query: [("uploadId", uploadId)],
                timeout: configuration.requestTimeout))
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }
}
