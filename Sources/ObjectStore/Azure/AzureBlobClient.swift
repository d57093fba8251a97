public import AsyncHTTPClient
public import AzureCloud
internal import Crypto
internal import Foundation
public import NIOCore
internal import NIOHTTP1
public import NIOSSL

/// An Azure Blob Storage client bound to one container: block blobs written as blocks (Put Block, Put Block List)
/// or in one Put Blob, each carrying its Content-MD5 (which the service checks), listed with their metadata, read as
/// streams. Authorized with an Entra ID token (`Storage Blob Data Contributor` or `Reader`) or Shared Key.
///
/// Like `S3Client`, it does not retry by itself: each failure is one `ObjectStoreError` whose `isRetryable` tells
/// the caller. Errors name the operation, account, container and blob, never a token, key or signature.
public struct AzureBlobClient: Sendable {
    /// How requests are authorized.
    public enum Authorization: Sendable {
        /// An Entra ID identity's tokens for `https://storage.azure.com`.
        case bearer(AzureAccessTokens)
        /// The storage account key.
        case sharedKey(AzureSharedKey)
    }

    public static let version = "2023-11-03"
    public static let scope = "https://storage.azure.com/.default"

    public let account: String
    public let container: String
    /// The account's URL: `https://ACCOUNT.blob.core.windows.net`, a private endpoint, or a path-style test server
    /// (`https://127.0.0.1:PORT/ACCOUNT`).
    public let accountURL: String
    let authorization: Authorization
    let httpClient: HTTPClient
    /// Set on every https request when given (a private CA); otherwise the HTTP client's own.
    let tlsConfiguration: TLSConfiguration?
    /// The account's encryption scope every write names (`x-ms-encryption-scope`): blobs are then encrypted with its
    /// key (a customer-managed key in Key Vault, when the scope says so); nil: the account's default encryption.
    public let encryptionScope: String?

    /// - Parameters:
    ///   - accountURL: nil: `https://ACCOUNT.blob.core.windows.net`.
    ///   - tlsConfiguration: trust roots for a private CA (at least TLS 1.2); nil: the HTTP client's own.
    ///   - encryptionScope: the encryption scope every write names; nil: the account's default.
    /// - Throws: `ObjectStoreError` `invalidArgument` for an account, container or encryption scope name Azure would
    ///   refuse or an account URL that is not https (http only on loopback).
    public init(
        account: String, container: String, accountURL: String? = nil, authorization: Authorization,
        httpClient: HTTPClient = .shared, tlsConfiguration: TLSConfiguration? = nil, encryptionScope: String? = nil
    ) throws(ObjectStoreError) {
        guard Self.isValidAccountName(account) else {
            throw ObjectStoreError(
                .invalidArgument, "'\(account)' is not a storage account name (3–24 lower-case letters and digits)")
        }
        guard Self.isValidContainerName(container) else {
            throw ObjectStoreError(
                .invalidArgument,
                "'\(container)' is not a container name (3–63 lower-case letters, digits and single hyphens)")
        }
        if let encryptionScope, !Self.isValidEncryptionScope(encryptionScope) {
            throw ObjectStoreError(
                .invalidArgument,
                "'\(encryptionScope)' is not an encryption scope name (3–63 letters, digits and hyphens)")
        }
        var url = accountURL ?? "https://\(account).blob.core.windows.net"
        while url.hasSuffix("/") { url.removeLast() }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            components.scheme == "https"
                || (components.scheme == "http" && ["127.0.0.1", "::1", "localhost"].contains(host)),
            components.user == nil, components.query == nil
        else {
            throw ObjectStoreError(.invalidArgument, "the Blob endpoint \(url) is not an https URL")
        }
        self.account = account
        self.container = container
        self.accountURL = url
        self.authorization = authorization
        self.httpClient = httpClient
        var tls = tlsConfiguration
        switch tls?.minimumTLSVersion {
        case .tlsv1, .tlsv11: tls?.minimumTLSVersion = .tlsv12
        default: break
        }
        self.tlsConfiguration = tls
        self.encryptionScope = encryptionScope
    }

    /// 3–63 letters, digits and hyphens, starting with a letter or digit.
    public static func isValidEncryptionScope(_ name: String) -> Bool {
        (3...63).contains(name.count) && !name.hasPrefix("-")
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
            }
    }

    /// Whether requests are signed with the account key rather than carrying a token.
    public var usesSharedKey: Bool {
        if case .sharedKey = authorization { return true }
        return false
    }

    /// The encryption-scope header of a write, when a scope is set.
    var encryptionHeaders: [(String, String)] { encryptionScope.map { [("x-ms-encryption-scope", $0)] } ?? [] }

    public static func isValidAccountName(_ name: String) -> Bool {
        (3...24).contains(name.count)
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    public static func isValidContainerName(_ name: String) -> Bool {
        (3...63).contains(name.count) && !name.hasPrefix("-") && !name.hasSuffix("-") && !name.contains("--")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// `https://ACCOUNT…/CONTAINER/NAME`, for messages.
    public func describe(_ name: String?) -> String { "\(accountURL)/\(container)/\(name ?? "")" }

    /// A blob name's path, each `/`-separated segment percent-encoded.
    func path(_ name: String?) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        let base = URLComponents(string: accountURL)?.percentEncodedPath ?? ""
        var path = base + "/" + container
        if let name {
            path +=
                "/"
                + name.split(separator: "/", omittingEmptySubsequences: false).map {
                    String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0)
                }.joined(separator: "/")
        }
        return path
    }

    // MARK: Blobs

    /// Put Blob: the whole blob in one request with its Content-MD5.
    ///
    /// - Parameter ifNoneMatch: `*` to create only if absent (`BlobAlreadyExists` otherwise).
    public func putBlob(
        name: String, bytes: [UInt8], metadata: [String: String] = [:], ifNoneMatch: String? = nil
    ) async throws {
        var headers = [
            ("x-ms-blob-type", "BlockBlob"),
            ("Content-MD5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()),
            ("Content-Type", "application/octet-stream"),
        ]
        headers += Self.metadataHeaders(metadata) + encryptionHeaders
        if let ifNoneMatch { headers.append(("If-None-Match", ifNoneMatch)) }
        let response = try await send(
            .PUT, name: name, headers: headers, body: ByteBuffer(bytes: bytes), operation: "Put Blob")
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }

    /// Put Block: one uncommitted block, with its Content-MD5.
    public func putBlock(name: String, blockId: String, bytes: [UInt8]) async throws {
        let response = try await send(
            .PUT, name: name, query: [("comp", "block"), ("blockid", blockId)],
            headers: [("Content-MD5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString())] + encryptionHeaders,
            body: ByteBuffer(bytes: bytes), operation: "Put Block")
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }

    /// Put Block List: commits `blockIds` in order as the blob, with its metadata and whole-blob MD5 property.
    public func putBlockList(
        name: String, blockIds: [String], metadata: [String: String] = [:], contentMD5: [UInt8]? = nil
    ) async throws {
        let xml =
            #"<?xml version="1.0" encoding="utf-8"?><BlockList>"#
            + blockIds.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        var headers = [("Content-Type", "application/xml")] + Self.metadataHeaders(metadata) + encryptionHeaders
        if let contentMD5 { headers.append(("x-ms-blob-content-md5", Data(contentMD5).base64EncodedString())) }
        headers.append(("Content-MD5", Data(Insecure.MD5.hash(data: Array(xml.utf8))).base64EncodedString()))
        let response = try await send(
            .PUT, name: name, query: [("comp", "blocklist")], headers: headers, body: ByteBuffer(string: xml),
            operation: "Put Block List")
        _ = try? await response.body.collect(upTo: 64 * 1024)
    }

    /// Get Block List of the uncommitted blocks: what an interrupted upload left, by id with its size.
    public func uncommittedBlocks(name: String) async throws -> [String: Int64] {
        let response: HTTPClientResponse
        do {
            response = try await send(
                .GET, name: name, query: [("comp", "blocklist"), ("blocklisttype", "uncommitted")],
                operation: "Get Block List")
        } catch let error as ObjectStoreError where error.isNotFound {
            return [:]
        }
        let xml = try await Self.xml(response, operation: "Get Block List")
        var blocks: [String: Int64] = [:]
        for block in xml.root.children("UncommittedBlocks").flatMap({ $0.children("Block") }) {
            if let id = block.value("Name"), let size = block.value("Size").flatMap({ Int64($0) }) { blocks[id] = size }
        }
        return blocks
    }

    /// List Blobs under `prefix` with their metadata, page by page.
    public func listBlobs(prefix: String, _ body: (AzureBlob) async throws -> Void) async throws {
        var marker: String?
        repeat {
            var query = [("restype", "container"), ("comp", "list"), ("prefix", prefix), ("include", "metadata")]
            if let marker { query.append(("marker", marker)) }
            let response = try await send(.GET, name: nil, query: query, operation: "List Blobs")
            let xml = try await Self.xml(response, operation: "List Blobs")
            for blob in xml.root.children("Blobs").flatMap({ $0.children("Blob") }) {
                guard let name = blob.value("Name") else { continue }
                let properties = blob.child("Properties")
                var metadata: [String: String] = [:]
                for entry in blob.child("Metadata")?.children ?? [] { metadata[entry.name] = entry.text }
                try await body(
                    AzureBlob(
                        name: name, bytes: properties?.value("Content-Length").flatMap { Int64($0) } ?? 0,
                        metadata: metadata))
            }
            marker = xml.root.value("NextMarker").flatMap { $0.isEmpty ? nil : $0 }
        } while marker != nil
    }

    /// Get Blob: the bytes, handed to `receive` piece by piece.
    public func download(name: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        let response = try await send(.GET, name: name, operation: "Get Blob", timeout: .minutes(15))
        try await response.stream(downloading: describe(name), receive)
    }

    /// Get Blob Properties (HEAD): the blob's size and metadata.
    ///
    /// - Throws: `ObjectStoreError` (`NoSuchKey` when it does not exist).
    public func properties(name: String) async throws -> AzureBlob {
        let response = try await send(.HEAD, name: name, operation: "Get Blob Properties")
        var metadata: [String: String] = [:]
        for (header, value) in response.headers where header.lowercased().hasPrefix("x-ms-meta-") {
            metadata[String(header.dropFirst("x-ms-meta-".count))] = value
        }
        return AzureBlob(
            name: name, bytes: response.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0,
            metadata: metadata)
    }

    /// Get User Delegation Key: a key, valid from `start` to `expiry` (ISO 8601, at most 7 days), that signs SAS
    /// tokens on the caller's Entra ID identity (bearer authorization only).
    public func userDelegationKey(start: String, expiry: String) async throws -> AzureSAS.UserDelegationKey {
        let body =
            #"<?xml version="1.0" encoding="utf-8"?><KeyInfo><Start>\#(start)</Start><Expiry>\#(expiry)</Expiry></KeyInfo>"#
        let response = try await send(
            .POST, name: nil, container: false, query: [("restype", "service"), ("comp", "userdelegationkey")],
            headers: [("Content-Type", "application/xml")], body: ByteBuffer(string: body),
            operation: "Get User Delegation Key")
        let xml = try await Self.xml(response, operation: "Get User Delegation Key")
        guard let oid = xml.root.value("SignedOid"), let tid = xml.root.value("SignedTid"),
            let signedStart = xml.root.value("SignedStart"), let signedExpiry = xml.root.value("SignedExpiry"),
            let service = xml.root.value("SignedService"), let version = xml.root.value("SignedVersion"),
            let value = xml.root.value("Value")
        else {
            throw ObjectStoreError(.invalidResponse, "Get User Delegation Key of \(accountURL) gave an incomplete key")
        }
        return AzureSAS.UserDelegationKey(
            objectId: oid, tenantId: tid, start: signedStart, expiry: signedExpiry, service: service, version: version,
            value: value)
    }

    /// The URL of a blob, for a SAS to be appended to.
    public func url(of name: String) -> String {
        String(accountURL.prefix(Self.originLength(accountURL))) + path(name)
    }

    /// Delete Blob; a missing blob is not an error.
    public func delete(name: String) async throws {
        do {
            let response = try await send(.DELETE, name: name, operation: "Delete Blob")
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch let error as ObjectStoreError where error.isNotFound {
            return
        }
    }

    // MARK: Sending

    static func metadataHeaders(_ metadata: [String: String]) -> [(String, String)] {
        metadata.sorted { $0.key < $1.key }.map { ("x-ms-meta-" + $0.key, $0.value) }
    }

    func send(
        _ method: HTTPMethod, name: String?, container: Bool = true, query: [(String, String)] = [],
        headers: [(String, String)] = [], body: ByteBuffer? = nil, operation: String,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> HTTPClientResponse {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encodedQuery = query.map {
            ($0.0, $0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)
        }
        let path = container ? self.path(name) : (URLComponents(string: accountURL)?.percentEncodedPath ?? "") + "/"
        let origin = accountURL.prefix(Self.originLength(accountURL))
        let url =
            origin + path
            + (encodedQuery.isEmpty ? "" : "?" + encodedQuery.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))
        var refreshed = false
        while true {
            var all = headers + [("x-ms-version", Self.version), ("x-ms-date", Self.httpDate())]
            if let body {
                all.append(("Content-Length", String(body.readableBytes)))
            } else if method == .PUT {
                all.append(("Content-Length", "0"))
            }
            switch authorization {
            case .bearer(let tokens):
                let token: String
                do {
                    token = try await tokens.token(scope: Self.scope)
                } catch {
                    throw ObjectStoreError(
                        .credentials, "no Entra ID token to reach \(describe(name)): \(error)", underlying: error)
                }
                all.append(("Authorization", "Bearer \(token)"))
            case .sharedKey(let key):
                all.append(
                    (
                        "Authorization",
                        key.authorization(
                            method: method.rawValue, path: path, query: encodedQuery.map { (name: $0.0, value: $0.1) },
                            headers: all.map { (name: $0.0, value: $0.1) })
                    ))
            }
            var request = HTTPClientRequest(url: String(url))
            request.method = method
            for (header, value) in all { request.headers.add(name: header, value: value) }
            if let body { request.body = .bytes(body) }
            if url.hasPrefix("https://"), let tlsConfiguration { request.tlsConfiguration = tlsConfiguration }
            let response = try await httpClient.execute(
                request, timeout: timeout, failing: "Blob \(operation) of \(describe(name))", endpoint: accountURL)
            if response.status.code == 401, !refreshed, case .bearer(let tokens) = authorization {
                _ = try? await response.body.collect(upTo: 64 * 1024)
                await tokens.invalidate()
                refreshed = true
                continue
            }
            guard response.status.code < 300 else {
                throw await Self.error(from: response, operation: operation, target: describe(name))
            }
            return response
        }
    }

    /// The length of `scheme://host[:port]` in a URL.
    static func originLength(_ url: String) -> Int {
        guard let schemeEnd = url.range(of: "://") else { return url.count }
        let rest = url[schemeEnd.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? url.endIndex
        return url.distance(from: url.startIndex, to: slash)
    }

    static func httpDate() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date())
    }

    /// Azure's XML error (`<Error><Code/><Message/></Error>`, and `x-ms-error-code`), read bounded.
    static func error(from response: HTTPClientResponse, operation: String, target: String) async -> ObjectStoreError {
        let status = Int(response.status.code)
        let body = try? await response.body.collect(upTo: 64 * 1024)
        let xml = body.flatMap { try? S3XML(Array(buffer: $0)) }
        let code = response.headers.first(name: "x-ms-error-code") ?? xml?.root.value("Code")
        let message =
            xml?.root.value("Message").map { ": " + ($0.split(separator: "\n").first.map(String.init) ?? $0) } ?? ""
        let mapped: ObjectStoreError.Code
        switch (status, code) {
        case (404, "ContainerNotFound"): mapped = .noSuchBucket
        case (404, _): mapped = .noSuchKey
        case (409, "BlobAlreadyExists"), (412, _): mapped = .preconditionFailed
        case (401, _), (403, _): mapped = .accessDenied
        case (503, _), (429, _): mapped = .slowDown
        default: mapped = code.map { ObjectStoreError.Code($0) } ?? .httpStatus
        }
        return ObjectStoreError(
            mapped, "Blob \(operation) of \(target) failed\(code.map { " (\($0))" } ?? "")\(message)", status: status,
            requestId: response.headers.first(name: "x-ms-request-id"))
    }

    static func xml(_ response: HTTPClientResponse, operation: String) async throws -> S3XML {
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            throw ObjectStoreError(
                .network, "the answer to Blob \(operation) could not be read (\(error))", underlying: error)
        }
        return try S3XML(Array(buffer: body))
    }
}

/// A blob a listing found.
public struct AzureBlob: Sendable, Equatable {
    public var name: String
    public var bytes: Int64
    public var metadata: [String: String]

    public init(name: String, bytes: Int64, metadata: [String: String] = [:]) {
        self.name = name
        self.bytes = bytes
        self.metadata = metadata
    }
}
