internal import AWSSigV4
internal import NIOHTTP1

/// One entry of a listing.
public struct S3ObjectSummary: Sendable, Equatable {
    /// The object's key, decoded.
    public var key: String
    /// Its size in bytes.
    public var bytes: Int64
    /// Its entity tag without quotes.
    public var etag: String?
    /// `LastModified` as S3 sent it (ISO 8601).
    public var lastModified: String?

    /// Creates an entry.
    public init(key: String, bytes: Int64, etag: String? = nil, lastModified: String? = nil) {
        self.key = key
        self.bytes = bytes
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// One page of ListObjectsV2.
public struct S3ObjectPage: Sendable, Equatable {
    /// The objects on this page, in key order.
    public var objects: [S3ObjectSummary]
    /// Pass to the next call for the following page; nil on the last page.
    public var nextContinuationToken: String?

    /// Creates a page.
    public init(objects: [S3ObjectSummary], nextContinuationToken: String?) {
        self.objects = objects
        self.nextContinuationToken = nextContinuationToken
    }
}

extension S3Client {
    /// ListObjectsV2, one page: keys under `prefix` in order, at most `maxKeys` (1 … 1000).
    ///
    /// Keys travel URL-encoded (`encoding-type=url`) so that any key, even one with characters XML cannot carry,
    /// comes back exactly.
    ///
    /// - Throws: `ObjectStoreError`.
    public func listObjectsPage(
        prefix: String = "", continuationToken: String? = nil, maxKeys: Int = 1000
    )
        async throws -> S3ObjectPage
    {
        guard (1...1000).contains(maxKeys) else {
            throw ObjectStoreError(.invalidArgument, "a listing page holds 1 to 1000 keys")
        }
        var query: [(name: String, value: String)] = [
            ("list-type", "2"), ("encoding-type", "url"), ("max-keys", String(maxKeys)),
        ]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send(
            Request(
                operation: "ListObjectsV2", method: .GET, key: nil, query: query,
                timeout: configuration.requestTimeout))
        let root = try await Self.xml(response, operation: "ListObjectsV2").root
        let encoded = root.value("EncodingType") == "url"
        var objects: [S3ObjectSummary] = []
        for entry in root.children("Contents") {
            guard let rawKey = entry.value("Key") else { continue }
            guard let key = encoded ? Self.formDecode(rawKey) : rawKey else {
                throw ObjectStoreError(.invalidResponse, "S3 ListObjectsV2 returned a key that cannot be decoded")
            }
            objects.append(
                S3ObjectSummary(
                    key: key, bytes: entry.value("Size").flatMap { Int64($0) } ?? 0,
                    etag: entry.value("ETag")?.unquotedETag, lastModified: entry.value("LastModified")))
        }
        let truncated = root.value("IsTruncated") == "true"
        let token = root.value("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        if truncated && token == nil {
            throw ObjectStoreError(.invalidResponse, "S3 ListObjectsV2 was truncated but gave no continuation token")
        }
        return S3ObjectPage(objects: objects, nextContinuationToken: truncated ? token : nil)
    }

    /// Every object under `prefix`, fetched a page at a time as the sequence is iterated.
    public func listObjects(prefix: String = "", pageSize: Int = 1000) -> S3ObjectListing {
        S3ObjectListing(client: self, prefix: prefix, pageSize: pageSize)
    }

    /// `application/x-www-form-urlencoded` decoding (`+` is a space), as S3's `encoding-type=url` produces it.
    static func formDecode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// The objects under a prefix as an `AsyncSequence`, one ListObjectsV2 request per page.
public struct S3ObjectListing: AsyncSequence, Sendable {
    /// Each object in key order.
    public typealias Element = S3ObjectSummary

    let client: S3Client
    let prefix: String
    let pageSize: Int

    /// Walks the pages, following continuation tokens.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: S3Client
        let prefix: String
        let pageSize: Int
        var buffer: [S3ObjectSummary] = []
        var token: String?
        var finished = false

        /// The next object, fetching the next page when this one is used up.
        ///
        /// - Throws: `ObjectStoreError`.
        public mutating func next() async throws -> S3ObjectSummary? {
            while buffer.isEmpty {
                if finished { return nil }
                let page = try await client.listObjectsPage(
                    prefix: prefix, continuationToken: token, maxKeys: pageSize)
                buffer = page.objects.reversed()
                token = page.nextContinuationToken
                finished = token == nil
            }
            return buffer.popLast()
        }
    }

    /// Starts at the first page.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, prefix: prefix, pageSize: pageSize)
    }
}
