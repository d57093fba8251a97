internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
public import OutpostProtocol

/// The agent's side of protocol v1: one method per call, JSON in and out, the API key on every request.
///
/// Each method makes one attempt and reports failures as `AgentError` — whether to retry is the caller's
/// decision, made with `AgentError.isRetryable`. The one exception is a 401: the key is re-read from its store
/// and, if it changed (rotation), the request is repeated once with the new key.
public struct ControlPlaneClient: Sendable {
    public let baseURL: String
    public let host: String
    public let keys: APIKeyProvider
    public let network: OutboundNetwork
    public let requestTimeout: Duration
    public let userAgent: String
    /// Sent as `AgentProtocol.agentHeader` on every call: the server binds a run's lease to the agent that claimed
    /// it.
    public let agentId: String

    public init(
        baseURL: String, keys: APIKeyProvider, network: OutboundNetwork, requestTimeout: Duration, version: String,
        agentId: String
    ) {
        self.agentId = agentId
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.host = URLComponents(string: baseURL)?.plainHost ?? ""
        self.keys = keys
        self.network = network
        self.requestTimeout = requestTimeout
        self.userAgent = "outpost-agent/\(version)"
    }

    /// Long-poll claim: a run, or nil when the server had nothing within `request.waitSeconds`.
    public func claim(_ request: ClaimRequest) async throws -> RunAssignment? {
        let timeout = Duration.seconds(request.waitSeconds) + .seconds(20)
        let response: ClaimResponse? = try await json(
            .POST, AgentProtocol.Path.claim, body: request, timeout: timeout)
        return response?.run
    }

    public func start(runId: String, _ request: StartRequest) async throws -> LeaseResponse {
        try await required(.POST, AgentProtocol.Path.start(run: runId), body: request)
    }

    public func renew(runId: String, leaseId: Int64) async throws -> LeaseResponse {
        try await required(.POST, AgentProtocol.Path.lease(run: runId), body: LeaseRenewalRequest(leaseId: leaseId))
    }

    public func heartbeat(_ request: HeartbeatRequest) async throws -> HeartbeatResponse {
        try await required(.POST, AgentProtocol.Path.heartbeat, body: request)
    }

    public func uploadGrants(runId: String, _ request: UploadGrantRequest) async throws -> UploadGrantResponse {
        try await required(.POST, AgentProtocol.Path.uploads(run: runId), body: request)
    }

    public func complete(runId: String, _ request: CompleteRequest) async throws -> CompleteResponse {
        try await required(.POST, AgentProtocol.Path.complete(run: runId), body: request)
    }

    /// Sends one gzip log chunk starting at `offset`; returns the offset the next chunk starts at.
    public func sendLog(runId: String, leaseId: Int64, offset: Int64, gzip: [UInt8]) async throws -> Int64 {
        let response: LogChunkResponse? = try await send(
            .PUT, AgentProtocol.Path.logs(run: runId) + "?offset=\(offset)", body: gzip,
            contentType: "application/gzip",
            extraHeaders: [("Content-Encoding", "gzip"), (AgentProtocol.leaseHeader, String(leaseId))],
            timeout: requestTimeout)
        guard let response else {
            throw AgentError(.unavailable, "the control plane answered a log chunk with no body")
        }
        return response.nextOffset
    }

    private func required<Body: Encodable, Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: Body
    ) async throws -> Response {
        guard let response: Response = try await json(method, path, body: body, timeout: requestTimeout) else {
            throw AgentError(.unavailable, "the control plane answered \(path) with no body")
        }
        return response
    }

    private func json<Body: Encodable, Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: Body, timeout: Duration
    ) async throws -> Response? {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw AgentError(.rejected, "cannot encode the request to \(path): \(error)")
        }
        return try await send(method, path, body: bytes, contentType: "application/json", timeout: timeout)
    }

    private func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: [UInt8], contentType: String,
        extraHeaders: [(String, String)] = [], timeout: Duration
    ) async throws -> Response? {
        var retriedWithNewKey = false
        while true {
            let key = try await keys.key()
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            request.headers.add(name: "Content-Type", value: contentType)
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: userAgent)
            request.headers.add(name: AgentProtocol.agentHeader, value: agentId)
            for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
            request.body = .bytes(body)
            let response: HTTPClientResponse
            let responseBody: ByteBuffer
            do {
                response = try await network.client(for: host).execute(request, timeout: .init(timeout))
                responseBody = try await response.body.collect(upTo: 4 * 1024 * 1024)
            } catch let error as AgentError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw AgentError(.unavailable, "cannot reach the control plane at \(host): \(Self.describe(error))")
            }
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                if status == 204 || responseBody.readableBytes == 0 { return nil }
                do {
                    return try JSONDecoder().decode(Response.self, from: Data(responseBody.readableBytesView))
                } catch {
                    throw AgentError(
                        .unavailable, "the control plane's answer to \(path) does not decode: \(error)", status: status)
                }
            }
            let problem = try? JSONDecoder().decode(ProblemResponse.self, from: Data(responseBody.readableBytesView))
            let message = problem?.message ?? "HTTP \(status)"
            if status == 401 {
                if !retriedWithNewKey, await keys.unauthorized(with: key, reason: message) {
                    retriedWithNewKey = true
                    continue
                }
                throw AgentError(.unauthorized, "the control plane refused the API key: \(message)", status: status)
            }
            throw Self.failure(
                status: status, problem: problem, message: message, headers: response.headers, path: path)
        }
    }

    static func failure(
        status: Int, problem: ProblemResponse?, message: String, headers: HTTPHeaders, path: String
    ) -> AgentError {
        if status == 409, problem?.error == "offset_mismatch", let expected = problem?.expectedOffset {
            return AgentError(
                .offsetMismatch, "the control plane expects the log at offset \(expected)", status: status,
                expectedOffset: expected)
        }
        if status == 409, problem?.error == "stale_lease" || problem == nil {
            return AgentError(.staleLease, "the lease is no longer valid: \(message)", status: status)
        }
        if status == 408 || status == 429 || status >= 500 {
            return AgentError(
                .unavailable, "the control plane answered \(status) to \(path): \(message)", status: status,
                retryAfter: retryAfter(headers.first(name: "Retry-After")))
        }
        return AgentError(.rejected, "the control plane refused \(path) (\(status)): \(message)", status: status)
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingWhitespace, !value.isEmpty else { return nil }
        if let seconds = Int64(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int64(date.timeIntervalSinceNow * 1000)))
    }

    static func describe(_ error: any Error) -> String {
        if let sentence = OutboundNetwork.describeConnectionFailure(error) { return sentence }
        // The system's words for the socket error ("connection refused"), not NIO's description of it.
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out"
            case .remoteConnectionClosed: return "the connection was closed"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}
