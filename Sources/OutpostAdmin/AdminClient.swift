// The OutpostAdmin module is the client side of the control plane's admin API for `outpost admin`: kept out of the
// `outpost` executable's module so that module does not see NIO's C modules (which shadow Glibc's `stat`).

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OutpostProtocol

/// The HTTP methods the admin API uses.
public enum AdminMethod: String, Sendable {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case delete = "DELETE"

    var http: HTTPMethod {
        switch self {
        case .get: .GET
        case .post: .POST
        case .put: .PUT
        case .delete: .DELETE
        }
    }
}

/// The admin API as `outpost admin` calls it: one request at a time, JSON in and out, every failure turned into
/// an `AdminClientError` whose message says what to do. The key goes only into the `Authorization` header; it is
/// never printed, logged or put into an error.
public struct AdminClient: Sendable {
    /// `http(s)://host:port`, without a trailing slash.
    public let baseURL: String
    let key: String
    let http: HTTPClient

    /// A client for `baseURL` (TLS 1.2 or newer; `caFile` adds a PEM bundle to trust, e.g. a self-signed server).
    public init(baseURL: String, key: String, caFile: String?) throws {
        guard let components = URLComponents(string: baseURL), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), components.host?.isEmpty == false, components.user == nil,
            components.password == nil
        else {
            throw AdminClientError(
                usage: "the server address '\(baseURL)' is not an http(s)://HOST[:PORT] URL without credentials")
        }
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = key
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw AdminClientError(usage: "cannot read PEM certificates from --ca-file '\(caFile)'")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Sends the request and decodes a JSON answer.
    public func call<Answer: Decodable>(
        _ method: AdminMethod, _ path: String, body: (some Encodable & Sendable)? = String?.none, as type: Answer.Type
    ) async throws -> Answer {
        let bytes = try await send(method, path, body: body)
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw AdminClientError(
                failure:
                    "the server's answer to \(method.rawValue) \(path) is not what this outpost expects (\(error)); "
                    + "is the server the same version?")
        }
    }

    /// Sends the request and returns the raw answer body (for `--json` and for 204 answers).
    @discardableResult
    public func send(
        _ method: AdminMethod, _ path: String, body: (some Encodable & Sendable)? = String?.none
    ) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method.http
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(90))
            bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        } catch {
            throw AdminClientError(
                failure: "cannot reach the server at \(baseURL) (\(Self.describe(error))); check --server or "
                    + "OUTPOST_SERVER and that the server is running")
        }
        let answer = Array(bytes.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw Self.refusal(status: response.status, body: answer, method: method, path: path)
        }
        return answer
    }

    /// A non-2xx answer as an error carrying the server's own problem message.
    static func refusal(
        status: HTTPResponseStatus, body: [UInt8], method: AdminMethod, path: String
    )
        -> AdminClientError
    {
        let problem = try? JSONDecoder().decode(ProblemResponse.self, from: Data(body))
        let detail = problem.map { problem in
            problem.message + (problem.field.map { " (field \($0))" } ?? "")
        }
        switch status {
        case .unauthorized:
            return AdminClientError(
                failure: "the server refused the key (401 \(detail ?? "unauthorized")); check --key-file or "
                    + "OUTPOST_ADMIN_KEY, and that the key is not revoked or expired")
        case .forbidden:
            return AdminClientError(
                failure: "the key may not do this (403 \(detail ?? "forbidden")); `outpost admin` needs an admin key")
        case .notFound:
            return AdminClientError(failure: "not found (404): \(detail ?? "\(method.rawValue) \(path)")")
        default:
            return AdminClientError(
                failure: "the server answered \(status.code) \(status.reasonPhrase): \(detail ?? "no details")")
        }
    }

    /// The transport error in a few words, without anything from the request.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        // The system's words for the socket error ("Connection refused"), not NIO's description of it.
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        return String(describing: error)
    }
}

/// Why an `outpost admin` command failed; `isUsage` picks exit status 64 over 1.
public struct AdminClientError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// The command line was at fault (exit 64), not the server or the network (exit 1).
    public let isUsage: Bool

    public init(usage message: String) {
        self.message = message
        isUsage = true
    }

    public init(failure message: String) {
        self.message = message
        isUsage = false
    }

    public var description: String { message }
}
