// Every endpoint of the OpenAPI document called with tenant B's keys on tenant A's objects. The endpoints come
// from the document itself, so a new endpoint without a case here fails the test instead of going unchecked.

import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OutpostProtocol
import OutpostTesting
import Testing

@testable import ControlPlane

@Suite("Tenant isolation")
struct TenantIsolationTests {
    /// An operation of the document: `GET /v1/admin/runs/{id}`.
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
    }

    /// The operations under `paths:` in the served document, read line by line (the document's layout is ours:
    /// paths at two spaces, methods at four).
    static func documentedOperations() -> Set<Operation> {
        var operations: Set<Operation> = []
        var inPaths = false
        var path: String?
        for line in OpenAPIDocument.yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.isEmpty && !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /") && line.hasSuffix(":") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(method) {
                    operations.insert(Operation(method: method, path: path))
                }
            }
        }
        return operations
    }

    /// Tenant A's objects, which no call of tenant B may reveal or change.
    struct TenantAObjects {
        let connection: ConnectionResponse
        let run: RunAssignment
        let queuedRunId: String
        let keyId: String
        let agentId: String
        /// Every string that would show A's data leaked into an answer.
        var secrets: [String] {
            [connection.id, connection.name, run.runId, queuedRunId, keyId, agentId, "orders", "customers"]
        }
    }

    @Test("tenant B's keys get 404 or 403 on every endpoint for tenant A's objects, and lists never show them")
    func everyEndpointIsTenantScoped() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let operations = Self.documentedOperations()
        #expect(operations.count >= 20, "the document's paths could not be read: \(operations)")
        let covered = Covered()
        try await fixture.application().test(.live) { client in
            let objects = try await Self.seedTenantA(client, fixture)
            let before = try await Self.snapshot(fixture, objects)
            try await Self.probe(client, fixture, objects, covered: covered)
            #expect(try await Self.snapshot(fixture, objects) == before, "a call of tenant B changed tenant A's data")
        }
        let missing = operations.subtracting(covered.operations).sorted { $0.description < $1.description }
        #expect(missing.isEmpty, "operations of the OpenAPI document without an isolation case: \(missing)")
        let unknown = covered.operations.subtracting(operations)
        #expect(unknown.isEmpty, "cases for operations the document does not have: \(unknown)")
    }

    final class Covered: @unchecked Sendable {
        // Only touched from the test's own task, one call after another.
        var operations: Set<Operation> = []
    }

    static func seedTenantA(
        _ client: some TestClientProtocol, _ fixture: ControlPlaneFixture
    ) async throws
        -> TenantAObjects
    {
        let admin = fixture.tenantA.admin
        let connection = try await client.send(
            .post, "/v1/admin/connections", key: admin, json: sampleConnection(name: "secret-sales")
        ).decode(ConnectionResponse.self)
        _ = try await client.send(.post, "/v1/admin/connections/\(connection.id)/runs", key: admin, bytes: nil)
        let run = try await client.send(
            .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest(agentId: "agent-a-only")
        ).decode(ClaimResponse.self).run
        let started = try await client.send(
            .post, AgentProtocol.Path.start(run: run.runId), key: fixture.tenantA.agent,
            json: StartRequest(leaseId: run.leaseId, agentId: "agent-a-only"))
        #expect(started.status == .ok)
        var headers = HTTPFields()
        headers[HTTPField.Name(AgentProtocol.leaseHeader)!] = "\(run.leaseId)"
        headers[HTTPField.Name(AgentProtocol.agentHeader)!] = "agent-a-only"
        let logged = try await client.send(
            .put, AgentProtocol.Path.logs(run: run.runId) + "?offset=0", key: fixture.tenantA.agent,
            bytes: Array("tenant A's log line\n".utf8), headers: headers)
        #expect(logged.status == .ok)
        let queued = try await client.send(
            .post, "/v1/admin/connections/\(connection.id)/runs", key: admin, bytes: nil
        ).decode(RunResponse.self)
        let key = try await client.send(
            .post, "/v1/admin/keys", key: admin, json: KeyCreateRequest(name: "a-only-key", role: .agent)
        ).decode(KeyCreatedResponse.self)
        // Catalog assets of A's connection, published straight through the store.
        try await fixture.store.stage(
            tenantId: fixture.tenantA.tenant.id, runId: run.runId, assets: CatalogFixtures.shop())
        _ = try await fixture.store.publish(
            tenantId: fixture.tenantA.tenant.id, connectionId: connection.id, runId: run.runId,
            scope: CatalogFixtures.scope(), now: fixture.clock.now)
        return TenantAObjects(
            connection: connection, run: run, queuedRunId: queued.id, keyId: key.apiKey.id, agentId: "agent-a-only")
    }

    /// Tenant A's rows as stored, to compare before and after B's calls.
    struct Snapshot: Equatable {
        var connection: ConnectionRecord?
        var runs: [RunRecord]
        var keys: [APIKey]
        var agents: [AgentRecord]
        var log: [UInt8]
        var assets: Int
    }

    static func snapshot(_ fixture: ControlPlaneFixture, _ objects: TenantAObjects) async throws -> Snapshot {
        let tenant = fixture.tenantA.tenant.id
        return Snapshot(
            connection: try await fixture.store.connection(tenantId: tenant, id: objects.connection.id),
            runs: try await fixture.store.runs(tenantId: tenant, connectionId: nil, limit: 100),
            keys: try await fixture.store.keys(tenantId: tenant).map { key in
                var key = key
                key.lastUsedAt = nil
                return key
            },
            agents: try await fixture.store.agents(tenantId: tenant),
            log: try await fixture.store.readLog(tenantId: tenant, runId: objects.run.runId, from: 0, limit: 1000),
            assets: try await fixture.store.searchAssets(
                tenantId: tenant, text: "", kind: nil, connectionId: objects.connection.id, limit: 100
            ).count)
    }

    static func probe(
        _ client: some TestClientProtocol, _ fixture: ControlPlaneFixture, _ a: TenantAObjects, covered: Covered
    ) async throws {
        let admin = fixture.tenantB.admin
        let agent = fixture.tenantB.agent
        let run = a.run.runId
        let connection = a.connection.id

        /// Calls with `key`, expects `status`, and checks that nothing of A is in the answer.
        func call(
            _ operation: String, _ method: HTTPRequest.Method, _ uri: String, key: String, bytes: [UInt8]? = nil,
            headers: HTTPFields = [:], expect status: HTTPResponse.Status,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            let response = try await client.send(method, uri, key: key, bytes: bytes, headers: headers)
            #expect(response.status == status, "\(method) \(uri): \(response.text)", sourceLocation: sourceLocation)
            // A 404 may name the id the caller sent; anything else of A must not appear.
            let sent = uri + String(decoding: bytes ?? [], as: UTF8.self)
            for secret in a.secrets where !sent.contains(secret) {
                #expect(
                    !response.text.contains(secret), "\(method) \(uri) revealed '\(secret)'",
                    sourceLocation: sourceLocation)
            }
            let parts = operation.split(separator: " ", maxSplits: 1)
            covered.operations.insert(Operation(method: String(parts[0]), path: String(parts[1])))
        }
        func json(_ value: some Encodable) throws -> [UInt8] { Array(try JSONEncoder().encode(value)) }

        /// An agent operation: B's agent key → 404, B's admin key (wrong role) → 403.
        func agentCall(
            _ operation: String, _ method: HTTPRequest.Method, _ uri: String, bytes: [UInt8]? = nil,
            headers: HTTPFields = [:], sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            try await call(
                operation, method, uri, key: agent, bytes: bytes, headers: headers, expect: .notFound,
                sourceLocation: sourceLocation)
            try await call(
                operation, method, uri, key: admin, bytes: bytes, headers: headers, expect: .forbidden,
                sourceLocation: sourceLocation)
        }
        /// An admin operation: B's admin key → `status`, B's agent key (wrong role) → 403.
        func adminCall(
            _ operation: String, _ method: HTTPRequest.Method, _ uri: String, bytes: [UInt8]? = nil,
            expect status: HTTPResponse.Status = .notFound, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            try await call(
                operation, method, uri, key: admin, bytes: bytes, expect: status, sourceLocation: sourceLocation)
            try await call(
                operation, method, uri, key: agent, bytes: bytes, expect: .forbidden, sourceLocation: sourceLocation)
        }

        // Public routes carry no tenant data at all.
        try await call("GET /healthz", .get, "/healthz", key: admin, expect: .ok)
        try await call("GET /openapi.yaml", .get, "/openapi.yaml", key: admin, expect: .ok)

        // Agent API on A's run, with A's real lease id.
        let lease = a.run.leaseId
        try await call(
            "POST /v1/agent/claim", .post, AgentProtocol.Path.claim, key: agent,
            bytes: try json(claimRequest(agentId: "agent-b")), expect: .noContent)
        try await call(
            "POST /v1/agent/claim", .post, AgentProtocol.Path.claim, key: admin,
            bytes: try json(claimRequest(agentId: "agent-b")), expect: .forbidden)
        // A's run id as a running lease of B's heartbeat changes nothing of A.
        let heartbeat = try json(
            HeartbeatRequest(
                agentId: "agent-b", agentName: "b", version: "0.1.0", state: .busy,
                runningLeases: [.init(runId: run, leaseId: a.run.leaseId)], freeSlots: 0))
        try await call(
            "POST /v1/agent/heartbeat", .post, AgentProtocol.Path.heartbeat, key: agent, bytes: heartbeat, expect: .ok)
        try await call(
            "POST /v1/agent/heartbeat", .post, AgentProtocol.Path.heartbeat, key: admin, bytes: heartbeat,
            expect: .forbidden)
        try await agentCall(
            "POST /v1/runs/{id}/start", .post, AgentProtocol.Path.start(run: run),
            bytes: try json(StartRequest(leaseId: lease, agentId: "agent-a-only")))
        try await agentCall(
            "POST /v1/runs/{id}/lease", .post, AgentProtocol.Path.lease(run: run),
            bytes: try json(LeaseRenewalRequest(leaseId: lease)))
        var leaseHeader = HTTPFields()
        leaseHeader[HTTPField.Name(AgentProtocol.leaseHeader)!] = "\(lease)"
        try await agentCall(
            "PUT /v1/runs/{id}/logs", .put, AgentProtocol.Path.logs(run: run) + "?offset=20",
            bytes: Array("B's line\n".utf8), headers: leaseHeader)
        try await agentCall(
            "POST /v1/runs/{id}/uploads", .post, AgentProtocol.Path.uploads(run: run),
            bytes: try json(
                UploadGrantRequest(
                    leaseId: lease,
                    files: [.init(path: "manifest.json", bytes: 2, sha256: String(repeating: "0", count: 64))])))
        try await agentCall(
            "POST /v1/runs/{id}/complete", .post, AgentProtocol.Path.complete(run: run),
            bytes: try json(completeRequest(leaseId: lease, status: .failed)))

        // A blob upload URL granted to B's own run, pointed at A's run: the signature no longer matches.
        let bConnection = try await client.send(
            .post, "/v1/admin/connections", key: admin, json: sampleConnection(name: "b-sales")
        ).decode(ConnectionResponse.self)
        _ = try await client.send(.post, "/v1/admin/connections/\(bConnection.id)/runs", key: admin, bytes: nil)
        let bRun = try await client.send(
            .post, AgentProtocol.Path.claim, key: agent, json: claimRequest(agentId: "agent-b")
        )
        .decode(ClaimResponse.self).run
        let body = Array("{}".utf8)
        let grant = try #require(
            try await client.send(
                .post, AgentProtocol.Path.uploads(run: bRun.runId), key: agent,
                json: UploadGrantRequest(
                    leaseId: bRun.leaseId,
                    files: [.init(path: "manifest.json", bytes: 2, sha256: SHA256Hex.of(body))]),
                headers: [HTTPField.Name(AgentProtocol.agentHeader)!: "agent-b"]
            ).decode(UploadGrantResponse.self).grants.first)
        let url = try #require(URLComponents(string: grant.url))
        let forged = url.path.replacingOccurrences(of: bRun.runId, with: run) + "?" + (url.percentEncodedQuery ?? "")
        var grantHeaders = HTTPFields()
        for (name, value) in grant.headers where name.lowercased() != "content-length" {
            grantHeaders[HTTPField.Name(name)!] = value
        }
        let upload = try await client.send(.put, forged, key: nil, bytes: body, headers: grantHeaders)
        #expect(upload.status == .forbidden, "\(upload.text)")
        covered.operations.insert(Operation(method: "PUT", path: "/v1/blobs/{run}/{file}"))

        // Admin API on A's objects.
        try await adminCall(
            "POST /v1/admin/keys", .post, "/v1/admin/keys", bytes: try json(KeyCreateRequest(name: "b", role: .agent)),
            expect: .created)
        try await adminCall("GET /v1/admin/keys", .get, "/v1/admin/keys", expect: .ok)
        try await adminCall("DELETE /v1/admin/keys/{id}", .delete, "/v1/admin/keys/\(a.keyId)")
        try await adminCall(
            "POST /v1/admin/connections", .post, "/v1/admin/connections",
            bytes: try json(sampleConnection(name: "b-second")), expect: .created)
        try await adminCall("GET /v1/admin/connections", .get, "/v1/admin/connections", expect: .ok)
        try await adminCall("GET /v1/admin/connections/{id}", .get, "/v1/admin/connections/\(connection)")
        try await adminCall(
            "PUT /v1/admin/connections/{id}", .put, "/v1/admin/connections/\(connection)",
            bytes: try json(sampleConnection(name: "renamed-by-b")))
        try await adminCall("DELETE /v1/admin/connections/{id}", .delete, "/v1/admin/connections/\(connection)")
        try await adminCall("POST /v1/admin/connections/{id}/runs", .post, "/v1/admin/connections/\(connection)/runs")
        try await adminCall("GET /v1/admin/runs", .get, "/v1/admin/runs", expect: .ok)
        try await adminCall("GET /v1/admin/runs", .get, "/v1/admin/runs?connectionId=\(connection)", expect: .ok)
        try await adminCall("GET /v1/admin/runs/{id}", .get, "/v1/admin/runs/\(run)")
        try await adminCall("GET /v1/admin/runs/{id}", .get, "/v1/admin/runs/\(a.queuedRunId)")
        try await adminCall("GET /v1/admin/runs/{id}/logs", .get, "/v1/admin/runs/\(run)/logs")
        try await adminCall("POST /v1/admin/runs/{id}/cancel", .post, "/v1/admin/runs/\(a.queuedRunId)/cancel")
        try await adminCall("POST /v1/admin/runs/{id}/cancel", .post, "/v1/admin/runs/\(run)/cancel")
        try await adminCall("GET /v1/admin/agents", .get, "/v1/admin/agents", expect: .ok)
        try await adminCall("POST /v1/admin/agents/{id}/drain", .post, "/v1/admin/agents/\(a.agentId)/drain")
        try await adminCall("GET /v1/admin/catalog/search", .get, "/v1/admin/catalog/search?q=orders", expect: .ok)
        try await adminCall(
            "GET /v1/admin/catalog/search", .get, "/v1/admin/catalog/search?connectionId=\(connection)", expect: .ok)
        try await adminCall(
            "GET /v1/admin/catalog/assets", .get,
            "/v1/admin/catalog/assets?connectionId=\(connection)&kind=table&qualifiedName=\(CatalogFixtures.orders)")
        try await adminCall(
            "GET /v1/admin/catalog/lineage", .get,
            "/v1/admin/catalog/lineage?connectionId=\(connection)&kind=table&qualifiedName=\(CatalogFixtures.orders)")
    }
}

/// Lower-case hex SHA-256.
enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        Crypto.SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
