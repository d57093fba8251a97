/// What S3 says about one object (HeadObject, GetObject).
public struct S3ObjectInfo: Sendable, Equatable {
    /// The object's key.
    public var key: String
    /// Its size in bytes.
    public var bytes: Int64
    /// The entity tag without quotes (an MD5 for single PUTs, `<md5>-<parts>` for multipart uploads).
    public var etag: String?
    /// `Content-Type` as stored.
    public var contentType: String?
    /// `x-amz-server-side-encryption` as S3 echoes it (`AES256`, `aws:kms`).
    public var serverSideEncryption: String?
    /// The KMS key S3 used, for `aws:kms`.
    public var kmsKeyId: String?
    /// `Last-Modified` as sent (an HTTP date).
    public var lastModified: String?
    /// User metadata (`x-amz-meta-NAME`), by lower-case name without the prefix.
    public var metadata: [String: String]

    /// Creates a description.
    public init(
        key: String, bytes: Int64, etag: String? = nil, contentType: String? = nil,
        serverSideEncryption: String? = nil, kmsKeyId: String? = nil, lastModified: String? = nil,
        metadata: [String: String] = [:]
    ) {
        self.key = key
        self.bytes = bytes
        self.etag = etag
        self.contentType = contentType
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyId = kmsKeyId
        self.lastModified = lastModified
        self.metadata = metadata
    }
}

/// The outcome of PutObject or of a whole `upload(file:…)`.
public struct S3UploadResult: Sendable, Equatable {
    /// The object's key.
    public var key: String
    /// The bytes sent.
    public var bytes: Int64
    /// Lower-case hex SHA-256 of the whole content as sent (computed while reading, whatever the part layout).
    public var sha256: String
    /// The entity tag S3 gave the object, without quotes.
    public var etag: String?
    /// `x-amz-server-side-encryption` as S3 echoed it.
    public var serverSideEncryption: String?
    /// 0 for a single PUT, otherwise the number of multipart parts.
    public var parts: Int

    /// Creates a result.
    public init(
        key: String, bytes: Int64, sha256: String, etag: String?, serverSideEncryption: String?, parts: Int
    ) {
        self.key = key
        self.bytes = bytes
        self.sha256 = sha256
        self.etag = etag
        self.serverSideEncryption = serverSideEncryption
        self.parts = parts
    }
}

/// The body of a PutObject.
public enum S3Body: Sendable {
    /// Bytes already in memory.
    case bytes([UInt8])
    /// A local file, read twice in pieces (once to hash it for the signature, once to send it), never whole.
    case file(path: String)
}

extension String {
    /// An entity tag without its surrounding quotes.
    var unquotedETag: String {
        var tag = self
        if tag.hasPrefix("W/") { tag.removeFirst(2) }
        if tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 2 { tag = String(tag.dropFirst().dropLast()) }
        return tag
    }
}
