internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1

/// A one-shot GET of the agent's own health listener, for `outpost probe`: container HEALTHCHECKs and Kubernetes
/// `exec` probes in an image without a shell or curl.
///
/// Loopback and plain HTTP only: it checks the agent next to it and can never be pointed at another service.
public struct HealthProbe: Sendable {
    /// The endpoint, already checked by `init`.
    public let url: String
    /// How long to wait for the whole answer.
    public let timeout: Duration

    /// At most this much of the answer is read; its first line is reported.
    static let maximumBodyBytes = 4096

    /// - Throws: `AgentError(.invalidConfiguration)` unless `url` is `http://` on 127.0.0.0/8, `::1` or
    ///   `localhost`, or when `timeout` is not positive.
    public init(url: String, timeout: Duration) throws {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http",
            let host = components.plainHost, !host.isEmpty
        else {
            throw AgentError(.invalidConfiguration, "'\(url)' is not an http://HOST:PORT/PATH URL")
        }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        guard bare == "localhost" || bare == "::1" || Self.isIPv4Loopback(bare) else {
            throw AgentError(
                .invalidConfiguration,
                "'\(url)': the probe checks the local agent only; use 127.0.0.1, ::1 or localhost")
        }
        guard timeout > .zero else {
            throw AgentError(.invalidConfiguration, "the probe's timeout must be positive")
        }
        self.url = url
        self.timeout = timeout
    }

    private static func isIPv4Loopback(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// GETs the URL once; returns the first line of a 200 answer.
    ///
    /// - Throws: `AgentError(.unavailable)` when nothing answers in time, or with `status` set for any other
    ///   status (the listener's first body line, e.g. `/readyz`'s reason, is in the message).
    public func check() async throws -> String {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: url), timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
            body = try await response.body.collect(upTo: Self.maximumBodyBytes)
        } catch {
            throw AgentError(.unavailable, "cannot reach \(url): \(error)")
        }
        let firstLine = String(buffer: body).split(separator: "\n").first.map(String.init) ?? ""
        guard response.status == .ok else {
            throw AgentError(
                .unavailable, "\(url) answered \(response.status.code)\(firstLine.isEmpty ? "" : ": \(firstLine)")",
                status: Int(response.status.code))
        }
        return firstLine
    }
}
