public import AsyncHTTPClient
internal import Crypto
internal import Foundation
public import GoogleCloud
public import NIOCore
internal import NIOHTTP1
public import NIOSSL

/// A Cloud Storage client bound to one bucket, over the JSON API with OAuth bearer tokens (a service account key,
/// workload identity or the metadata server: `GoogleAccessTokens`).
///
/// Uploads hold at most one chunk in memory: a multipart upload (metadata and bytes in one request, with their
/// CRC-32C and MD5, which Cloud Storage checks) up to the policy's threshold, a resumable upload above it, whose
/// chunks are re-sent from the offset the service reports after a failed request, and whose last request carries
/// the whole object's CRC-32C and MD5. Every upload is checked against the CRC-32C Cloud Storage reports.
///
/// Like `S3Client`, it leaves retrying a failed operation to the caller (`ObjectStoreError.isRetryable`); only a
/// resumable upload retries its chunk, since that is what the session is for. Errors name the operation, bucket
/// and object, never a token.
public struct GCSClient: Sendable {
    public static let defaultEndpoint = "https://storage.googleapis.com"
    public static let readWriteScope = "https://www.googleapis.com/auth/devstorage.read_write"
    public static let readOnlyScope = "https://www.googleapis.com/auth/devstorage.read_only"

    /// The bucket every request addresses.
    public let bucket: String
    /// `https://storage.googleapis.com`, a private endpoint or an emulator; no trailing `/`.
    public let endpoint: String
    let tokens: GoogleAccessTokens
    let scope: String
    let httpClient: HTTPClient
    let retryDelay: Duration
    /// Set on every https request when given; nil: the HTTP client's own (the agent's, with its CA bundle).
    let tlsConfiguration: TLSConfiguration?

    /// TLS 1.2 or later with the system's trust roots.
    public static var defaultTLS: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        return tls
    }

    /// Creates a client; nothing is sent until the first operation.
    ///
    /// - Parameters:
    ///   - scope: the OAuth scope asked for (`readOnlyScope` for a reader).
    ///   - retryDelay: the first pause before a resumable chunk is re-sent; doubled each time.
    ///   - tlsConfiguration: set on every https request; nil leaves the HTTP client's own.
    /// - Throws: `ObjectStoreError` `invalidArgument` for a bucket name Cloud Storage would refuse or an endpoint
    ///   that is not an http(s) URL.
    public init(
        bucket: String, endpoint: String = GCSClient.defaultEndpoint, tokens: GoogleAccessTokens,
        scope: String = GCSClient.readWriteScope, httpClient: HTTPClient = .shared,
        retryDelay: Duration = .milliseconds(500), tlsConfiguration: TLSConfiguration? = GCSClient.defaultTLS
    ) throws(ObjectStoreError) {
        try Self.validate(bucket: bucket)
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        guard let url = URLComponents(string: endpoint), let host = url.host, !host.isEmpty,
            url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "::1", "localhost"].contains(host)),
            url.user == nil, url.query == nil
        else {
            throw ObjectStoreError(
                .invalidArgument,
                "the Cloud Storage endpoint \(endpoint) is not an https URL (http:// is for loopback only: the token "
                    + "goes with every request)")
        }
        self.bucket = bucket
        self.endpoint = endpoint
        self.tokens = tokens
        self.scope = scope
        self.httpClient = httpClient
        self.retryDelay = retryDelay
        self.tlsConfiguration = tlsConfiguration
    }

    /// Whether Cloud Storage allows this bucket name: 3–63 characters (222 with dots, 63 per dot-separated part)
    /// of lower-case letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
    public static func isValidBucketName(_ bucket: String) -> Bool {
        let scalars = Array(bucket.unicodeScalars)
        func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
            (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
        }
        guard (3...222).contains(scalars.count), isAlphanumeric(scalars.first!), isAlphanumeric(scalars.last!) else {
            return false
        }
        return scalars.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." }
            && bucket.split(separator: ".").allSatisfy { $0.count <= 63 }
            && (bucket.contains(".") || scalars.count <= 63)
    }

    static func validate(bucket: String) throws(ObjectStoreError) {
        guard isValidBucketName(bucket) else {
            throw ObjectStoreError(
                .invalidArgument,
                "'\(bucket)' is not a Cloud Storage bucket name (3–63 lower-case letters, digits, '-', '_' or '.')")
        }
    }

    /// Object names: 1–1024 bytes of UTF-8, no control characters, not `.` or `..`.
    static func validate(name: String) throws(ObjectStoreError) {
        guard !name.isEmpty, name.utf8.count <= 1024, name != ".", name != "..",
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        else {
            throw ObjectStoreError(.invalidArgument, "'\(name)' is not a Cloud Storage object name")
        }
    }

    /// `gs://bucket/name`, for messages.
    public func describe(_ name: String?) -> String { "gs://\(bucket)/\(name ?? "")" }

    /// One path segment of the JSON API: everything but unreserved characters percent-encoded, `/` included.
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    var objectsURL: String { endpoint + "/storage/v1/b/" + Self.encode(bucket) + "/o" }
    func objectURL(_ name: String) -> String { objectsURL + "/" + Self.encode(name) }
    var uploadURL: String { endpoint + "/upload/storage/v1/b/" + Self.encode(bucket) + "/o" }

    // MARK: Objects

    /// The object's metadata (`objects.get`).
    ///
    /// - Throws: `ObjectStoreError` (`NoSuchKey` when it does not exist).
    public func object(name: String) async throws -> GCSObject {
        try Self.validate(name: name)
        let response = try await send(.GET, objectURL(name), operation: "objects.get", name: name)
        return try await Self.object(from: response, operation: "objects.get", target: describe(name))
    }

    /// Every object whose name starts with `prefix`, page by page (`objects.list`), handed to `body` in name order.
    ///
    /// - Throws: `ObjectStoreError`, or what `body` threw.
    public func listObjects(prefix: String, _ body: (GCSObject) async throws -> Void) async throws {
        var pageToken: String?
        repeat {
            var url = objectsURL + "?prefix=" + Self.encode(prefix) + "&maxResults=1000"
            if let pageToken { url += "&pageToken=" + Self.encode(pageToken) }
            let response = try await send(.GET, url, operation: "objects.list", name: prefix)
            let page = try await Self.json(response, operation: "objects.list", target: describe(prefix))
            for item in page["items"] as? [[String: Any]] ?? [] {
                guard let object = GCSObject(json: item) else {
                    throw ObjectStoreError(.invalidResponse, "objects.list of \(describe(prefix)) gave an odd item")
                }
                try await body(object)
            }
            pageToken = page["nextPageToken"] as? String
        } while pageToken != nil
    }

    /// The object's bytes, handed to `receive` piece by piece as they arrive.
    ///
    /// - Throws: `ObjectStoreError` (`NoSuchKey` for a missing object), or what `receive` threw, unchanged.
    public func download(name: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        try Self.validate(name: name)
        let response = try await send(
            .GET, objectURL(name) + "?alt=media", operation: "objects.get media", name: name, timeout: .minutes(15))
        try await response.stream(downloading: describe(name), receive)
    }

    /// Deletes the object; a missing one is not an error.
    ///
    /// - Throws: `ObjectStoreError`.
    public func delete(name: String) async throws {
        try Self.validate(name: name)
        do {
            let response = try await send(.DELETE, objectURL(name), operation: "objects.delete", name: name)
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch let error as ObjectStoreError where error.code == .noSuchKey {
            return
        }
    }

    /// Which of `permissions` the caller holds on the bucket (`buckets.testIamPermissions`): a check that writes
    /// nothing.
    ///
    /// - Throws: `ObjectStoreError` (`NoSuchBucket` when the bucket does not exist).
    public func testPermissions(_ permissions: [String]) async throws -> [String] {
        let url =
            endpoint + "/storage/v1/b/" + Self.encode(bucket) + "/iam/testPermissions?"
            + permissions.map { "permissions=" + Self.encode($0) }.joined(separator: "&")
        let response = try await send(.GET, url, operation: "buckets.testIamPermissions", name: nil)
        let answer = try await Self.json(response, operation: "buckets.testIamPermissions", target: describe(nil))
        return answer["permissions"] as? [String] ?? []
    }

    // MARK: Sending

    /// Sends one request with a bearer token, once more with a fresh token after a 401; answers with a status of
    /// 300 or more (but 308, a resumable upload's "go on") become `ObjectStoreError`s.
    func send(
        _ method: HTTPMethod, _ url: String, operation: String, name: String?, headers: [(String, String)] = [],
        body: ByteBuffer? = nil, timeout: TimeAmount = .seconds(60)
    ) async throws -> HTTPClientResponse {
        var refreshed = false
        while true {
            let token: String
            do {
                token = try await tokens.token(scope: scope)
            } catch {
                throw ObjectStoreError(
                    .credentials, "no Google token to reach \(describe(name)): \(error)", underlying: error)
            }
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            for (header, value) in headers { request.headers.add(name: header, value: value) }
            if let body {
                request.body = .bytes(body)
            } else if method == .PUT || method == .POST {
                request.headers.add(name: "Content-Length", value: "0")
            }
            if url.hasPrefix("https://"), let tlsConfiguration { request.tlsConfiguration = tlsConfiguration }
            let response = try await httpClient.execute(
                request, timeout: timeout, failing: "Cloud Storage \(operation) of \(describe(name))",
                endpoint: endpoint)
            let status = Int(response.status.code)
            if status == 401, !refreshed {
                _ = try? await response.body.collect(upTo: 64 * 1024)
                await tokens.invalidate()
                refreshed = true
                continue
            }
            guard status < 300 || status == 308 else {
                throw await Self.error(from: response, operation: operation, target: describe(name))
            }
            return response
        }
    }

    /// Cloud Storage's JSON error (`{"error": {"code", "message", "errors": [{"reason"}]}}`), read bounded.
    static func error(from response: HTTPClientResponse, operation: String, target: String) async -> ObjectStoreError {
        let status = Int(response.status.code)
        let body = try? await response.body.collect(upTo: 64 * 1024)
        let object = body.flatMap { try? JSONSerialization.jsonObject(with: Data(Array(buffer: $0))) } as? [String: Any]
        let error = object?["error"] as? [String: Any]
        let message = (error?["message"] as? String).map { ": \($0)" } ?? ""
        let code: ObjectStoreError.Code
        switch status {
        case 404: code = message.lowercased().contains("bucket") ? .noSuchBucket : .noSuchKey
        case 401, 403: code = .accessDenied
        case 410: code = .uploadSessionExpired
        case 412: code = .preconditionFailed
        case 429: code = .slowDown
        default: code = .httpStatus
        }
        return ObjectStoreError(code, "Cloud Storage \(operation) of \(target) failed\(message)", status: status)
    }

    /// A small JSON answer, collected and parsed.
    static func json(_ response: HTTPClientResponse, operation: String, target: String) async throws -> [String: Any] {
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            throw ObjectStoreError(
                .network, "the answer to Cloud Storage \(operation) of \(target) could not be read (\(error))",
                underlying: error)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(Array(buffer: body))) as? [String: Any] else {
            throw ObjectStoreError(.invalidResponse, "Cloud Storage \(operation) of \(target) did not answer JSON")
        }
        return object
    }

    static func object(from response: HTTPClientResponse, operation: String, target: String) async throws -> GCSObject {
        guard let object = GCSObject(json: try await json(response, operation: operation, target: target)) else {
            throw ObjectStoreError(.invalidResponse, "Cloud Storage \(operation) of \(target) gave no object resource")
        }
        return object
    }
}

/// What Cloud Storage says about one object (its resource in the JSON API).
public struct GCSObject: Sendable, Equatable {
    public var name: String
    public var bytes: Int64
    /// Base64 of the big-endian CRC-32C, as Cloud Storage gives it.
    public var crc32c: String?
    /// Base64 MD5; absent for composite objects.
    public var md5Hash: String?
    public var generation: String?
    /// The Cloud KMS key the object is encrypted with, when it is a customer-managed one.
    public var kmsKeyName: String?
    /// Custom metadata.
    public var metadata: [String: String]

    public init(
        name: String, bytes: Int64, crc32c: String? = nil, md5Hash: String? = nil, generation: String? = nil,
        kmsKeyName: String? = nil, metadata: [String: String] = [:]
    ) {
        self.name = name
        self.bytes = bytes
        self.crc32c = crc32c
        self.md5Hash = md5Hash
        self.generation = generation
        self.kmsKeyName = kmsKeyName
        self.metadata = metadata
    }

    init?(json: [String: Any]) {
        guard let name = json["name"] as? String, let size = (json["size"] as? String).flatMap({ Int64($0) }) else {
            return nil
        }
        self.init(
            name: name, bytes: size, crc32c: json["crc32c"] as? String, md5Hash: json["md5Hash"] as? String,
            generation: json["generation"] as? String, kmsKeyName: json["kmsKeyName"] as? String,
            metadata: json["metadata"] as? [String: String] ?? [:])
    }
}
