internal import AWSSigV4
public import AsyncHTTPClient
internal import Foundation
public import Logging
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL

/// An S3 API client bound to one bucket: every request header-signed with SigV4, every object key percent-encoded
/// segment by segment (so `/` stays a separator and spaces, `+` and non-ASCII survive), TLS 1.2 or later on https.
///
/// It never retries by itself: each failure is one `ObjectStoreError` whose `isRetryable` tells the caller (which
/// owns the backoff policy) whether to try again. Bodies are streamed: uploads from files hold at most one
/// multipart part in memory, downloads hand each received piece to a closure.
///
/// ```swift
/// let client = try S3Client(bucket: "acme-metadata", configuration: .init(region: "eu-west-1", credentials: source))
/// let uploaded = try await client.upload(file: "/spool/run/manifest.json", key: "outpost/pg/run-1/manifest.json",
///                                        serverSideEncryption: .aes256)
/// ```
public struct S3Client: Sendable {
    /// The bucket every request addresses.
    public let bucket: String
    /// Endpoint, region, addressing style, credentials and timeouts.
    public let configuration: S3Configuration
    let httpClient: HTTPClient
    let credentialCache: S3CredentialCache
    let signer: SigV4Signer
    let logger: Logger
    let now: @Sendable () -> Int64
    /// TLS ≥ 1.2, set on every https request (the shared HTTP client's own default allows less).
    let tlsConfiguration: TLSConfiguration

    /// Creates a client; nothing is sent until the first operation.
    ///
    /// - Parameters:
    ///   - httpClient: shared by every request (the client sets TLS ≥ 1.2 on each https request itself).
    ///   - now: the wall clock in seconds since 1970, for signatures and credential expiry; the system clock when nil.
    /// - Throws: `ObjectStoreError` with code `invalidArgument` for a bad bucket name, region or endpoint.
    public init(
        bucket: String, configuration: S3Configuration, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "outpost.objectstore"),
        now: (@Sendable () -> Int64)? = nil
    ) throws {
        let now = now ?? { Int64(Date().timeIntervalSince1970) }
        try Self.validate(bucket: bucket)
        try configuration.validate()
        if configuration.addressingStyle == .virtualHosted, bucket.contains("."),
            configuration.resolvedEndpoint.hasPrefix("https://")
        {
            throw ObjectStoreError(
                .invalidArgument,
                "the bucket '\(bucket)' has dots in its name, which TLS certificates for virtual-hosted addressing "
                    + "do not cover: use path-style addressing")
        }
        self.bucket = bucket
        self.configuration = configuration
        self.httpClient = httpClient
        self.signer = SigV4Signer(region: configuration.region, service: "s3")
        self.logger = logger
        self.now = now
        self.tlsConfiguration = configuration.effectiveTLSConfiguration
        self.credentialCache = S3CredentialCache(
            source: configuration.credentials, client: httpClient, timeout: configuration.requestTimeout,
            tlsConfiguration: tlsConfiguration, now: now)
    }

    /// The host requests go to (`bucket.s3.eu-west-1.amazonaws.com`, `minio.internal:9000`), for egress allowlists.
    public var requestHost: String { SigV4Signer.host(of: location(key: nil).endpoint) }

    /// Bucket names S3 accepts: 3–63 characters of lower-case letters, digits, `.` and `-` (plus `_` for older
    /// buckets and S3-compatible stores), starting and ending with a letter or digit.
    static func validate(bucket: String) throws(ObjectStoreError) {
        let allowed = bucket.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "_"
        }
        let edges = [bucket.unicodeScalars.first, bucket.unicodeScalars.last].allSatisfy {
            $0.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) } ?? false
        }
        guard (3...63).contains(bucket.count), allowed, edges else {
            throw ObjectStoreError(
                .invalidArgument,
                "'\(bucket)' is not a valid bucket name (3-63 lower-case letters, digits, '.' or '-')")
        }
    }

    /// Object keys are 1–1024 bytes of UTF-8.
    static func validate(key: String) throws(ObjectStoreError) {
        guard !key.isEmpty, key.utf8.count <= 1024 else {
            throw ObjectStoreError(.invalidArgument, "an object key must be 1 to 1024 bytes long")
        }
    }

    // MARK: Addressing

    /// The endpoint (`scheme://host[:port]`) and the unencoded path of a key (or of the bucket when `key` is nil).
    func location(key: String?) -> (endpoint: String, path: String) {
        let endpoint = configuration.resolvedEndpoint
        switch configuration.addressingStyle {
        case .path:
            return (endpoint, "/" + bucket + (key.map { "/" + $0 } ?? ""))
        case .virtualHosted:
            let scheme = endpoint.hasPrefix("http://") ? "http://" : "https://"
            return (scheme + bucket + "." + endpoint.dropFirst(scheme.count), "/" + (key ?? ""))
        }
    }

    /// A path percent-encoded segment by segment exactly as SigV4 canonicalises it for S3: `/` stays, everything
    /// outside `A-Z a-z 0-9 - . _ ~` becomes `%XX` of its UTF-8 bytes.
    static func encodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { SigV4Signer.percentEncode(String($0)) }.joined(separator: "/")
    }

    /// The unsigned URL of an object, as requests address it (for logs, tests and virtual-host checks).
    public func url(forKey key: String) -> String {
        let location = self.location(key: key)
        return location.endpoint + Self.encodePath(location.path)
    }

    /// `s3://bucket/key`, for messages.
    func describe(_ key: String?) -> String { "s3://\(bucket)/\(key ?? "")" }

    // MARK: Sending

    /// One request before signing.
    struct Request {
        var operation: String
        var method: HTTPMethod
        var key: String?
        var query: [(name: String, value: String)] = []
        var headers: [(name: String, value: String)] = []
        /// Lower-case hex SHA-256 of the body (SigV4's `x-amz-content-sha256`).
        var payloadHash: String = SigV4Request.emptyPayloadHash
        var body: HTTPClientRequest.Body?
        var timeout: TimeAmount
    }

    /// Signs and sends a request; answers with a status ≥ 300 become `ObjectStoreError`s with S3's code, message
    /// and request id. The caller consumes the successful response's body.
    func send(_ request: Request) async throws -> HTTPClientResponse {
        let credentials = try await credentialCache.credentials()
        let location = self.location(key: request.key)
        let headers =
            [("host", SigV4Signer.host(of: location.endpoint)), ("x-amz-content-sha256", request.payloadHash)]
            + request.headers
        let signed = signer.sign(
            SigV4Request(
                method: request.method.rawValue, path: location.path, query: request.query, headers: headers,
                payloadHash: request.payloadHash),
            credentials: credentials, date: AWSTimestamp(secondsSince1970: now()))
        var url = location.endpoint + Self.encodePath(location.path)
        if !request.query.isEmpty {
            url +=
                "?"
                + request.query.map { "\(SigV4Signer.percentEncode($0.name))=\(SigV4Signer.percentEncode($0.value))" }
                .joined(separator: "&")
        }
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = request.method
        for (name, value) in headers + signed where name != "host" { outgoing.headers.add(name: name, value: value) }
        outgoing.body = request.body
        if url.hasPrefix("https://") { outgoing.tlsConfiguration = tlsConfiguration }

        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(outgoing, timeout: request.timeout)
        } catch let error as ObjectStoreError {
            throw error
        } catch let error as NIOSSLError {
            throw ObjectStoreError(
                .tls,
                "S3 \(request.operation) of \(describe(request.key)) failed: the TLS handshake with "
                    + "\(location.endpoint) failed (\(error)); check its certificate, the trust roots and TLS ≥ 1.2",
                underlying: error)
        } catch let error as BoringSSLError {
            throw ObjectStoreError(
                .tls,
                "S3 \(request.operation) of \(describe(request.key)) failed: the TLS handshake with "
                    + "\(location.endpoint) failed (\(error)); check its certificate, the trust roots and TLS ≥ 1.2",
                underlying: error)
        } catch {
            throw ObjectStoreError(
                .network, "S3 \(request.operation) of \(describe(request.key)) did not get an answer (\(error))",
                underlying: error)
        }
        logger.trace(
            "s3.request",
            metadata: [
                "s3.operation": .string(request.operation), "s3.key": .string(request.key ?? ""),
                "http.status": .stringConvertible(response.status.code),
            ])
        guard response.status.code < 300 else {
            throw await Self.error(from: response, operation: request.operation, target: describe(request.key))
        }
        return response
    }

    /// Reads S3's `<Error>` answer (bounded) into an `ObjectStoreError`.
    static func error(from response: HTTPClientResponse, operation: String, target: String) async -> ObjectStoreError {
        let status = Int(response.status.code)
        var requestId = response.headers.first(name: "x-amz-request-id")
        let body = try? await response.body.collect(upTo: 64 * 1024)
        let prefix = "S3 \(operation) of \(target) failed"
        if let body, body.readableBytes > 0, let xml = try? S3XML(Array(buffer: body)), xml.root.name == "Error",
            let code = xml.root.value("Code")
        {
            requestId = xml.root.value("RequestId") ?? requestId
            let message = xml.root.value("Message").map { "\(prefix): \($0)" } ?? prefix
            return ObjectStoreError(.init(code), message, status: status, requestId: requestId)
        }
        // HEAD answers and some proxies carry no error body: name the status.
        let code: ObjectStoreError.Code
        switch status {
        case 404: code = .noSuchKey
        case 403: code = .accessDenied
        case 503: code = .slowDown
        default: code = .httpStatus
        }
        return ObjectStoreError(code, prefix, status: status, requestId: requestId)
    }

    /// Collects a small XML answer body and parses it.
    static func xml(
        _ response: HTTPClientResponse, operation: String, limit: Int = 4 * 1024 * 1024
    ) async throws
        -> S3XML
    {
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: limit)
        } catch {
            throw ObjectStoreError(
                .network, "the answer to S3 \(operation) could not be read (\(error))", underlying: error)
        }
        let xml = try S3XML(Array(buffer: body))
        // CompleteMultipartUpload (and copies) can fail after a 200 status with an `<Error>` body.
        if xml.root.name == "Error" {
            throw ObjectStoreError(
                .init(xml.root.value("Code") ?? "InternalError"),
                "S3 \(operation) failed: \(xml.root.value("Message") ?? "an error in a 200 answer")",
                status: Int(response.status.code), requestId: xml.root.value("RequestId"))
        }
        return xml
    }
}
