import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

@Suite("Authentication")
struct AuthenticationTests {
    @Test(arguments: AgentEndpoint.allCases)
    func aRevokedKeyIsRefusedOnEveryAgentEndpoint(endpoint: AgentEndpoint) async throws {
        let fixture = try await ControlPlaneFixture.make()
        let key = try await fixture.mintKey(role: .agent)
        _ = try await fixture.store.revokeKey(
            tenantId: fixture.tenantA.tenant.id, id: key.key.id, at: fixture.clock.now)
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let response = try await endpoint.send(
                client, runId: assignment.runId, leaseId: assignment.leaseId, key: key.text)
            #expect(response.status == .unauthorized)
            #expect(response.problem?.error == "unauthorized")
            // The same answer as an unknown key: nothing tells the holder the key was real.
            #expect(response.problem?.message == "the API key is not valid")
        }
    }

    @Test(arguments: AgentEndpoint.allCases)
    func anExpiredKeyIsRefusedOnEveryAgentEndpoint(endpoint: AgentEndpoint) async throws {
        let fixture = try await ControlPlaneFixture.make()
        let key = try await fixture.mintKey(role: .agent, expiresAt: fixture.clock.now.adding(seconds: 60))
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            fixture.clock.advance(seconds: 60)
            let response = try await endpoint.send(
                client, runId: assignment.runId, leaseId: assignment.leaseId, key: key.text)
            #expect(response.status == .unauthorized)
            #expect(response.problem?.message == "the API key is not valid")
        }
    }

    @Test func missingMalformedAndUnknownKeysAreUnauthorized() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let unknown = APIKey.mint(
            tenantId: fixture.tenantA.tenant.id, name: "never stored", role: .agent, expiresAt: nil,
            now: fixture.clock.now)
        try await fixture.application().test(.router) { client in
            let body = claimRequest()
            for headers: HTTPFields in [
                [:], [.authorization: "Basic dXNlcjpwYXNz"], [.authorization: "Bearer"],
                [.authorization: "Bearer not-a-key"], [.authorization: "Bearer \(unknown.text)"],
            ] {
                let response = try await client.send(
                    .post, AgentProtocol.Path.claim, key: nil, bytes: Array(try JSONEncoder().encode(body)),
                    headers: headers)
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(response.problem?.error == "unauthorized")
            }
            // The scheme is case-insensitive.
            let lower = try await client.send(
                .post, AgentProtocol.Path.claim, key: nil, bytes: Array(try JSONEncoder().encode(body)),
                headers: [.authorization: "bearer \(fixture.tenantA.agent)"])
            #expect(lower.status == .noContent)
        }
    }

    @Test func eachAPIRequiresItsRole() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let adminOnAgent = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.admin, json: claimRequest())
            #expect(adminOnAgent.status == .forbidden)
            #expect(adminOnAgent.problem?.error == "forbidden")
            let agentOnAdmin = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.agent)
            #expect(agentOnAdmin.status == .forbidden)
        }
    }

    @Test func repeatedFailuresFromOneAddressAreRateLimited() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.failedAuthenticationLimit = 5 }
        try await fixture.application().test(.router) { client in
            for _ in 0..<5 {
                let response = try await client.send(.get, "/v1/admin/keys", key: "opk_wrong")
                #expect(response.status == .unauthorized)
            }
            let limited = try await client.send(.get, "/v1/admin/keys", key: "opk_wrong")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.problem?.error == "rate_limited")
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...60).contains(retryAfter))
            // A key that verifies is never refused for its address: valid admins and agents sharing it (behind
            // one proxy, or next to whoever sends the bad keys) keep working while the bad keys stay limited.
            let valid = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            #expect(valid.status == .ok)
            let heartbeat = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent,
                json: HeartbeatRequest(
                    agentId: "agent-1", agentName: "one", version: "0.1.0", state: .idle, runningLeases: [],
                    freeSlots: 1))
            #expect(heartbeat.status == .ok, "\(heartbeat.text)")
            #expect(try await client.send(.get, "/v1/admin/keys", key: "opk_wrong").status == .tooManyRequests)
        }
    }

    @Test func failuresAreCountedPerForwardedClientOnlyBehindATrustedProxy() async throws {
        let proxies = try TrustedProxies(["127.0.0.0/8"])
        let fixture = try await ControlPlaneFixture.make {
            $0.failedAuthenticationLimit = 3
            $0.trustedProxies = proxies
        }
        try await fixture.application().test(.live) { client in
            func call(key: String, forwardedFor: String?) async throws -> TestResponse {
                var headers = HTTPFields()
                if let forwardedFor { headers[HTTPField.Name("X-Forwarded-For")!] = forwardedFor }
                return try await client.send(.get, "/v1/admin/keys", key: key, headers: headers)
            }
            for _ in 0..<3 { _ = try await call(key: "opk_wrong", forwardedFor: "203.0.113.5") }
            #expect(try await call(key: "opk_wrong", forwardedFor: "203.0.113.5").status == .tooManyRequests)
            // Another client behind the same proxy is its own address; a spoofed left-most entry changes nothing.
            #expect(try await call(key: "opk_wrong", forwardedFor: "203.0.113.6").status == .unauthorized)
            #expect(
                try await call(key: "opk_wrong", forwardedFor: "198.51.100.1, 203.0.113.5").status
                    == .tooManyRequests)
        }
    }

    @Test func aForwardedAddressFromAPeerThatIsNotATrustedProxyIsIgnored() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.failedAuthenticationLimit = 2 }
        try await fixture.application().test(.live) { client in
            for index in 0..<2 {
                _ = try await client.send(
                    .get, "/v1/admin/keys", key: "opk_wrong",
                    headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.\(index)"])
            }
            // Both counted against the real peer address, whatever the header claimed.
            let third = try await client.send(
                .get, "/v1/admin/keys", key: "opk_wrong", headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
            #expect(third.status == .tooManyRequests)
        }
    }

    @Test func trustedProxyRangesMatchIPv4AndIPv6AndRejectNonsense() throws {
        let proxies = try TrustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8"])
        #expect(proxies.contains("10.200.3.4"))
        #expect(!proxies.contains("11.0.0.1"))
        #expect(proxies.contains("192.168.1.7"))
        #expect(!proxies.contains("192.168.1.8"))
        #expect(proxies.contains("fd12::1"))
        #expect(!proxies.contains("fe80::1"))
        #expect(!proxies.contains("not an address"))
        #expect(proxies.clientAddress(peer: "10.0.0.1", forwardedFor: ["1.2.3.4, 10.0.0.9"]) == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "8.8.8.8", forwardedFor: ["1.2.3.4"]) == "8.8.8.8")
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/", "::/129"] {
            #expect(throws: TrustedProxyError.self) { try TrustedProxies([bad]) }
        }
    }

    @Test func revokedExpiredAndUnknownKeysGetTheSameAnswer() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let creation = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin,
                json: KeyCreateRequest(
                    name: "short", role: .admin, expiresAt: fixture.clock.now.adding(seconds: 60).rfc3339)
            )
            // An answer carrying a key is never cached.
            #expect(creation.headers[.cacheControl] == "no-store")
            let created = try creation.decode(KeyCreatedResponse.self)
            let revoked = try await client.send(
                .post, "/v1/admin/keys", key: fixture.tenantA.admin, json: KeyCreateRequest(name: "gone", role: .admin)
            ).decode(KeyCreatedResponse.self)
            _ = try await client.send(
                .delete, "/v1/admin/keys/\(revoked.apiKey.id)", key: fixture.tenantA.admin, bytes: nil)
            fixture.clock.advance(seconds: 61)
            let answers = [
                try await client.send(.get, "/v1/admin/keys", key: created.key),
                try await client.send(.get, "/v1/admin/keys", key: revoked.key),
                try await client.send(.get, "/v1/admin/keys", key: "opk_" + String(repeating: "q", count: 43)),
            ]
            #expect(answers.map(\.status) == [.unauthorized, .unauthorized, .unauthorized])
            #expect(Set(answers.map(\.text)).count == 1, "\(answers.map(\.text))")
        }
    }

    @Test func lastUsedIsRecordedAtMostOncePerInterval() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let start = fixture.clock.now
            _ = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            fixture.clock.advance(seconds: 30)
            _ = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            var keys = try await fixture.store.keys(tenantId: fixture.tenantA.tenant.id)
            #expect(keys.first { $0.role == .admin }?.lastUsedAt == start)
            fixture.clock.advance(seconds: 31)
            _ = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            keys = try await fixture.store.keys(tenantId: fixture.tenantA.tenant.id)
            #expect(keys.first { $0.role == .admin }?.lastUsedAt == fixture.clock.now)
        }
    }
}

/// Every agent-API endpoint, for parameterised tests.
enum AgentEndpoint: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case claim, heartbeat, start, lease, logs, uploads, complete

    var testDescription: String { rawValue }

    func send(
        _ client: some TestClientProtocol, runId: String, leaseId: Int64, key: String
    ) async throws
        -> TestResponse
    {
        switch self {
        case .claim:
            return try await client.send(.post, AgentProtocol.Path.claim, key: key, json: claimRequest())
        case .heartbeat:
            return try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: key,
                json: HeartbeatRequest(
                    agentId: "agent-1", agentName: "a", version: "0.1.0", state: .idle, runningLeases: [],
                    freeSlots: 1))
        case .start: return try await RunEndpoint.start.send(client, runId: runId, leaseId: leaseId, key: key)
        case .lease: return try await RunEndpoint.lease.send(client, runId: runId, leaseId: leaseId, key: key)
        case .logs: return try await RunEndpoint.logs.send(client, runId: runId, leaseId: leaseId, key: key)
        case .uploads: return try await RunEndpoint.uploads.send(client, runId: runId, leaseId: leaseId, key: key)
        case .complete: return try await RunEndpoint.complete.send(client, runId: runId, leaseId: leaseId, key: key)
        }
    }
}
