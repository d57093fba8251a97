import ControlPlane
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
            #expect(response.problem?.message.contains("revoked") == true)
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
            #expect(response.problem?.message.contains("expired") == true)
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
            // While limited, the address is refused even with a valid key.
            let valid = try await client.send(.get, "/v1/admin/keys", key: fixture.tenantA.admin)
            #expect(valid.status == .tooManyRequests)
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
