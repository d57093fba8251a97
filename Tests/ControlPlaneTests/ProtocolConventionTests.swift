import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

/// The conventions the OpenAPI document states for every endpoint: 405 with `Allow`, `null` refused, and the
/// problem codes listed in one place.
@Suite("Protocol conventions")
struct ProtocolConventionTests {
    @Test(
        "a documented path with a method it does not serve answers 405 with Allow; an unknown path 404",
        arguments: [
            ("DELETE", "/v1/agent/claim", "POST"), ("GET", "/v1/runs/run_x/start", "POST"),
            ("POST", "/v1/admin/runs", "GET"), ("PATCH", "/v1/admin/connections/con_x", "GET, PUT, DELETE"),
            ("POST", "/healthz", "GET"), ("GET", "/v1/blobs/run_x/manifest.json", "PUT"),
        ])
    func methodNotAllowed(method: String, path: String, allow: String) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let response = try await client.send(
                try #require(HTTPRequest.Method(method)), path, key: fixture.tenantA.admin)
            #expect(response.status == .methodNotAllowed, "\(response.text)")
            #expect(response.headers[.allow] == allow)
            #expect(response.problem?.error == "method_not_allowed")
            #expect(response.problem?.message.contains(allow) == true)

            let unknown = try await client.send(.get, "/v1/admin/nothing-here", key: fixture.tenantA.admin)
            #expect(unknown.status == .notFound)
            #expect(unknown.problem?.error == "not_found")
        }
    }

    @Test("the method check comes before authentication, so it reveals nothing about keys")
    func methodCheckNeedsNoKey() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let response = try await client.send(.get, "/v1/agent/heartbeat", key: nil)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
        }
    }

    @Test("null in an optional request field is refused with 400 naming the field, on agent and admin calls")
    func nullIsRefused() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin,
                text: #"{"name": "n", "sourceKind": "sqlite", "sourceURL": "sqlite:/x.db", "pool": null}"#)
            #expect(connection.status == .badRequest)
            #expect(connection.problem?.field == "pool")
            #expect(connection.problem?.message.contains("leave an optional field out") == true)

            let run = try await client.queueRun(fixture)
            let cancel = try await client.send(
                .post, "/v1/admin/runs/\(run)/cancel", key: fixture.tenantA.admin, text: #"{"reason": null}"#)
            #expect(cancel.status == .badRequest)
            #expect(cancel.problem?.field == "reason")

            let heartbeat = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent,
                text: #"""
                    {"agentId": "a", "agentName": "a", "version": "0.1.0", "state": "idle", "runningLeases": [],
                     "freeSlots": 1, "lastError": null}
                    """#)
            #expect(heartbeat.status == .badRequest)
            #expect(heartbeat.problem?.field == "lastError")
        }
    }

    @Test("the problem codes of ProblemResponse are the ones the OpenAPI document lists")
    func problemCodesMatchTheDocument() throws {
        let document = OpenAPIDocument.yaml
        let start = try #require(document.range(of: "`error` is a stable code:"))
        let end = try #require(document.range(of: "clients must treat an", range: start.upperBound..<document.endIndex))
        let listed = document[start.upperBound..<end.lowerBound].split(separator: "`").enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
        #expect(listed == ProblemResponse.codes)
    }
}
