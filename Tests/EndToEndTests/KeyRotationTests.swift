import AsyncHTTPClient
import ControlPlane
import Foundation
import NIOCore
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("End to end: the agent's API key in AWS Secrets Manager", .serialized)
struct KeyRotationTests {
    @Test func aKeyRotatedInSecretsManagerMidRunIsPickedUpAndARevokedOneMakesTheAgentNotReady() async throws {
        let source = try SourceDatabase()
        let moto = try TestMoto()
        let server = try ServerProcess()
        try await server.start()
        let admin = try server.admin
        let first = try await Self.createAgentKey(admin, name: "agent-1")
        try moto.boto3(
            "client('secretsmanager').create_secret(Name='e2e/agent-key', SecretString='\(first.key)')")
        // A run that takes a few seconds (its password comes from a slow command), so the rotation lands mid-run.
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        var setup = try AgentSetup(
            server: server, key: "unused", secretCommands: ["pw": "sleep 4; echo \(source.password)"])
        setup.yaml = setup.yaml.replacingOccurrences(
            of: "apiKey: file:\(setup.directory.path)/api-key", with: "apiKey: aws-sm:e2e/agent-key")
        let healthPort = try FreePort.find()
        setup.yaml += "\nobservability:\n  listen: 127.0.0.1:\(healthPort)\n"
        #expect(setup.yaml.contains("apiKey: aws-sm:e2e/agent-key"))
        let agent = try setup.start(environment: environment(moto.environment()))

        let run = try await admin.runNow(connection.id)
        _ = try await admin.waitFor(run.id) { $0.status == .running }
        // Rotation as an operator does it: a new key into the store, then the old one revoked while the run is on.
        let second = try await Self.createAgentKey(admin, name: "agent-2")
        try moto.boto3(
            "client('secretsmanager').put_secret_value(SecretId='e2e/agent-key', SecretString='\(second.key)')")
        try await Self.revoke(admin, first)
        let finished = try await admin.finished(run.id)
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        #expect(finished.attempt == 1)
        // The agent goes on with the new key: a second run succeeds, with no restart.
        let next = try await admin.finished(try await admin.runNow(connection.id).id)
        #expect(next.status == .succeeded, "\(next.error ?? "") \(agent.log)")
        #expect(try await Self.readiness(port: healthPort).status == 200)

        // Revoked with nothing newer in the store: the agent stops claiming, reports not-ready and says why.
        try await Self.revoke(admin, second)
        let waiting = try await admin.runNow(connection.id)
        let deadline = ContinuousClock.now + .seconds(30)
        var readiness = try await Self.readiness(port: healthPort)
        while readiness.status == 200 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            readiness = try await Self.readiness(port: healthPort)
        }
        #expect(readiness.status == 503)
        #expect(readiness.body.contains("refuses the API key"), "\(readiness.body)")
        try await Task.sleep(for: .seconds(2))
        #expect(try await admin.run(waiting.id).status == .queued)
        #expect(await agent.waitForExit(within: .zero) == nil, "the agent exited: \(agent.log)")
        // Nothing crashed, and no key text reached its output.
        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        for key in [first.key, second.key] { #expect(!agent.log.contains(key)) }
        try await server.stop()
    }

    static func createAgentKey(_ admin: AdminClient, name: String) async throws -> KeyCreatedResponse {
        try await admin.call(
            .POST, "/v1/admin/keys", body: KeyCreateRequest(name: name, role: .agent, expiresAt: nil),
            as: KeyCreatedResponse.self)
    }

    static func revoke(_ admin: AdminClient, _ key: KeyCreatedResponse) async throws {
        let answer = try await admin.send(.DELETE, "/v1/admin/keys/\(key.apiKey.id)")
        guard (200..<300).contains(answer.status) else {
            throw EndToEndFailure("revoking \(key.apiKey.name) answered \(answer.status)")
        }
    }

    /// `GET /readyz` on the agent's loopback listener.
    static func readiness(port: Int) async throws -> (status: UInt, body: String) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 * 1024)
        return (response.status.code, String(buffer: body))
    }
}
