import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

/// The JSON write endpoints of the agent API with a valid body each, so a test can break one thing at a time.
enum AgentWrite: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case claim, heartbeat, start, lease, complete

    var testDescription: String { rawValue }

    func path(runId: String) -> String {
        switch self {
        case .claim: AgentProtocol.Path.claim
        case .heartbeat: AgentProtocol.Path.heartbeat
        case .start: AgentProtocol.Path.start(run: runId)
        case .lease: AgentProtocol.Path.lease(run: runId)
        case .complete: AgentProtocol.Path.complete(run: runId)
        }
    }

    /// A valid body as a JSON object.
    func body(leaseId: Int64) throws -> [String: Any] {
        let data: Data
        switch self {
        case .claim: data = try JSONEncoder().encode(claimRequest())
        case .heartbeat:
            data = try JSONEncoder().encode(
                HeartbeatRequest(
                    agentId: "agent-1", agentName: "a", version: "0.1.0", state: .idle, runningLeases: [],
                    freeSlots: 1))
        case .start: data = try JSONEncoder().encode(StartRequest(leaseId: leaseId, agentId: "agent-1"))
        case .lease: data = try JSONEncoder().encode(LeaseRenewalRequest(leaseId: leaseId))
        case .complete: data = try JSONEncoder().encode(completeRequest(leaseId: leaseId))
        }
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

@Suite("Request validation")
struct RequestValidationTests {
    @Test(arguments: AgentWrite.allCases)
    func anUnknownFieldIsRefusedByName(endpoint: AgentWrite) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            var body = try endpoint.body(leaseId: assignment.leaseId)
            body["leaseID"] = 7
            let response = try await client.send(
                .post, endpoint.path(runId: assignment.runId), key: fixture.tenantA.agent,
                bytes: Array(try JSONSerialization.data(withJSONObject: body)))
            #expect(response.status == .badRequest)
            #expect(response.problem?.error == "invalid_request")
            #expect(response.problem?.field == "leaseID")
            #expect(response.problem?.message.contains("leaseID") == true)
        }
    }

    @Test func anUnknownNestedFieldIsNamedByItsPath() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            var body = try AgentWrite.complete.body(leaseId: assignment.leaseId)
            body["logs"] = ["bytes": 0, "sha256": String(repeating: "0", count: 64), "droppedBytes": 0, "crc": 1]
            let response = try await client.send(
                .post, AgentWrite.complete.path(runId: assignment.runId), key: fixture.tenantA.agent,
                bytes: Array(try JSONSerialization.data(withJSONObject: body)))
            #expect(response.status == .badRequest)
            #expect(response.problem?.field == "logs.crc")
        }
    }

    @Test(arguments: AgentWrite.allCases)
    func malformedJSONIsABadRequest(endpoint: AgentWrite) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let response = try await client.send(
                .post, endpoint.path(runId: assignment.runId), key: fixture.tenantA.agent, text: "{\"leaseId\": 1,")
            #expect(response.status == .badRequest)
            #expect(response.problem?.error == "invalid_request")
            #expect(response.problem?.message == "the body is not valid JSON")
        }
    }

    @Test(arguments: AgentWrite.allCases)
    func aBodyOfAHostileShapeIsRefusedByItsStructureBeforeItIsParsed(endpoint: AgentWrite) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let path = endpoint.path(runId: assignment.runId)
            // 600 KB of empty objects (it used to cost seconds of CPU to refuse), deep nesting, a huge string.
            let shapes = [
                "[" + Array(repeating: "{}", count: 300_000).joined(separator: ",") + "]",
                String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
                #"{"leaseId": 1, "x": ""# + String(repeating: "a", count: 300_000) + #""}"#,
            ]
            for shape in shapes {
                let response = try await client.send(.post, path, key: fixture.tenantA.agent, text: shape)
                #expect(response.status == .badRequest)
                #expect(response.problem?.error == "invalid_request")
                #expect(response.problem?.message.hasPrefix("the body") == true, "\(response.text)")
            }
        }
    }

    @Test(arguments: AgentWrite.allCases)
    func anOversizedBodyIsRefusedWith413(endpoint: AgentWrite) async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let padding = String(repeating: " ", count: AgentProtocol.maximumBodyBytes)
            let response = try await client.send(
                .post, endpoint.path(runId: assignment.runId), key: fixture.tenantA.agent, text: "{\(padding)}")
            #expect(response.status == .contentTooLarge)
            #expect(response.problem?.error == "payload_too_large")
        }
    }

    @Test func aWrongTypeOrMissingFieldIsNamed() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let assignment = try await client.startedRun(fixture)
            let wrongType = try await client.send(
                .post, AgentProtocol.Path.lease(run: assignment.runId), key: fixture.tenantA.agent,
                text: #"{"leaseId": "one"}"#)
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.problem?.field == "leaseId")
            #expect(wrongType.problem?.message == "field 'leaseId': expected an integer, found a string")

            let missing = try await client.send(
                .post, AgentProtocol.Path.start(run: assignment.runId), key: fixture.tenantA.agent,
                text: #"{"leaseId": 1}"#)
            #expect(missing.problem?.field == "agentId")

            let badEnum = try await client.send(
                .post, AgentProtocol.Path.complete(run: assignment.runId), key: fixture.tenantA.agent,
                text:
                    #"{"leaseId": 1, "status": "great", "logs": {"bytes": 0, "sha256": "\#(String(repeating: "0", count: 64))", "droppedBytes": 0}}"#
            )
            #expect(badEnum.problem?.field == "status")

            let negative = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent,
                json: ClaimRequest(
                    agentId: "agent-1", agentName: "a", version: "0.1.0", freeSlots: -1, pools: [], waitSeconds: 0))
            #expect(negative.problem?.field == "freeSlots")
        }
    }

    @Test func errorsNeverExposeInternals() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let unknownRoute = try await client.send(.get, "/v1/nothing-here", key: nil)
            #expect(unknownRoute.status == .notFound)
            #expect(unknownRoute.problem?.error == "not_found")
            #expect(unknownRoute.headers[.contentType] == "application/json; charset=utf-8")

            try await fixture.store.close()
            let storeDown = try await client.send(
                .post, AgentProtocol.Path.claim, key: fixture.tenantA.agent, json: claimRequest())
            #expect(storeDown.status.code >= 500)
            let problem = try #require(storeDown.problem)
            #expect(!problem.message.lowercased().contains("sqlite"))
            #expect(!storeDown.text.contains(".swift"))
        }
    }
}
