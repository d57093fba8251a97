internal import AWSSigV4
internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL

/// Hands out signing credentials: fixed ones as they are, web-identity ones exchanged with STS and reused until
/// five minutes before they expire.
///
/// An actor so that the cached credentials are shared safely; requests that find no valid credentials at the same
/// moment may each run an exchange (the last result is kept), and a failed exchange is not cached.
actor S3CredentialCache {
    private let source: AWSCredentialSource
    private let client: HTTPClient
    private let timeout: TimeAmount
    private let tlsConfiguration: TLSConfiguration
    private let now: @Sendable () -> Int64
    private var cached: (credentials: AWSCredentials, expiresAt: Int64)?

    init(
        source: AWSCredentialSource, client: HTTPClient, timeout: TimeAmount, tlsConfiguration: TLSConfiguration,
        now: @escaping @Sendable () -> Int64
    ) {
        self.source = source
        self.client = client
        self.timeout = timeout
        self.tlsConfiguration = tlsConfiguration
        self.now = now
    }

    /// Credentials valid for at least the next five minutes.
    func credentials() async throws(ObjectStoreError) -> AWSCredentials {
        switch source {
        case .fixed(let credentials):
            return credentials
        case .webIdentity(let identity):
            if let cached, cached.expiresAt - now() > 300 { return cached.credentials }
            let fresh = try await exchange(identity)
            cached = fresh
            return fresh.credentials
        }
    }

    private func exchange(
        _ identity: AWSCredentialSource.WebIdentity
    ) async throws(ObjectStoreError) -> (credentials: AWSCredentials, expiresAt: Int64) {
        let token: String
        do {
            token = try String(contentsOfFile: identity.tokenFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ObjectStoreError(
                .credentials, "cannot read the web identity token file \(identity.tokenFile)", underlying: error)
        }
        var request = HTTPClientRequest(url: identity.stsEndpoint + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: STSWebIdentityExchange.formBody(identity, token: token)))
        if identity.stsEndpoint.hasPrefix("https://") { request.tlsConfiguration = tlsConfiguration }
        let status: UInt
        let text: String
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = response.status.code
            text = String(buffer: try await response.body.collect(upTo: 256 * 1024))
        } catch {
            throw ObjectStoreError(
                .network, "cannot reach STS to exchange the web identity token for role \(identity.roleARN)",
                underlying: error)
        }
        guard status == 200, let answer = STSWebIdentityExchange.credentials(fromResponse: text) else {
            throw ObjectStoreError(
                .credentials, "STS refused the web identity token for role \(identity.roleARN)", status: Int(status))
        }
        // Without a readable expiry, assume STS's default session length of one hour.
        let expiresAt = answer.expiration.flatMap(Self.secondsSince1970) ?? now() + 3600
        return (answer.credentials, expiresAt)
    }

    /// `2026-11-22T05:00:00Z` (optionally with fractional seconds) as seconds since 1970.
    static func secondsSince1970(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970) }
    }
}
