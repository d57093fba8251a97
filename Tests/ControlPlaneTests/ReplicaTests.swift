// Two live server replicas on one PostgreSQL, each listening on its own loopback port, and many agents claiming
// over real HTTP from both at once: the queue must hand every run to exactly one agent.

import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import ServiceLifecycle
import Testing

@Suite("Replicas")
struct ReplicaTests {
    static let runCount = 100
    static let agents = 16

    @Test("16 agents claiming over HTTP from two replicas on one PostgreSQL lease each of 100 runs exactly once")
    func twoReplicasLeaseEachRunOnce() async throws {
        try await StoragePostgres.withDatabase { url in
            try await StoragePostgres.withStore(url: url) { first in
                try await StoragePostgres.withStore(url: url) { second in
                    try await first.migrate()
                    try await Self.exercise(first, second)
                }
            }
        }
    }

    static func exercise(_ first: PostgresControlPlaneStore, _ second: PostgresControlPlaneStore) async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let tenant = try await ControlPlaneFixture.tenant(named: "a", store: first, clock: clock)
        var logger = Logger(label: "outpost.test.replicas")
        logger.logLevel = .error
        let blobs = try LocalBlobStore(
            root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
        let signer = UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key"))
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        let firstApp = buildApplication(
            configuration: configuration, store: first, blobs: blobs, signer: signer, logger: logger,
            clock: clock.wallClock)
        let secondApp = buildApplication(
            configuration: configuration, store: second, blobs: blobs, signer: signer, logger: logger,
            clock: clock.wallClock)

        try await firstApp.test(.live) { firstClient in
            try await secondApp.test(.live) { secondClient in
                let ports = [try #require(firstClient.port), try #require(secondClient.port)]
                #expect(ports[0] != ports[1])
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                do {
                    try await Self.claimEverything(http: http, ports: ports, keys: tenant)
                    try await http.shutdown()
                } catch {
                    try? await http.shutdown()
                    throw error
                }
            }
        }
        let runs = try await second.runs(tenantId: tenant.tenant.id, connectionId: nil, limit: runCount * 2)
        #expect(runs.count == runCount)
        #expect(runs.allSatisfy { $0.status == .failed && $0.attempt == 1 && $0.leaseId == 1 })
        #expect(runs.allSatisfy { $0.error == "completed by agent \($0.leaseAgentId ?? "?")" })
    }

    static func claimEverything(http: HTTPClient, ports: [Int], keys: TenantKeys) async throws {
        // Queue through both replicas: the admin API of each.
        let connection = try await request(
            http, port: ports[0], .POST, "/v1/admin/connections", key: keys.admin, body: sampleConnection()
        ).decode(ConnectionResponse.self)
        var queued: Set<String> = []
        for index in 0..<runCount {
            let run = try await request(
                http, port: ports[index % 2], .POST, "/v1/admin/connections/\(connection.id)/runs", key: keys.admin,
                body: String?.none
            ).decode(RunResponse.self)
            queued.insert(run.id)
        }
        #expect(queued.count == runCount)

        // Each agent claims from alternating replicas, starts and completes what it got, until both say 204.
        let leased = try await withThrowingTaskGroup(of: [String].self) { group in
            for agent in 0..<agents {
                group.addTask {
                    var mine: [String] = []
                    var emptyAnswers = 0
                    var turn = agent
                    while emptyAnswers < 2 {
                        let port = ports[turn % 2]
                        turn += 1
                        let agentId = "agent-\(agent)"
                        let answer = try await request(
                            http, port: port, .POST, AgentProtocol.Path.claim, key: keys.agent,
                            body: claimRequest(agentId: agentId, waitSeconds: 0))
                        if answer.status == .noContent {
                            emptyAnswers += 1
                            continue
                        }
                        emptyAnswers = 0
                        let run = try answer.decode(ClaimResponse.self).run
                        mine.append(run.runId)
                        let started = try await request(
                            http, port: ports[turn % 2], .POST, AgentProtocol.Path.start(run: run.runId),
                            key: keys.agent, body: StartRequest(leaseId: run.leaseId, agentId: agentId))
                        #expect(started.status == .ok, "\(started.text)")
                        let completed = try await request(
                            http, port: ports[(turn + 1) % 2], .POST, AgentProtocol.Path.complete(run: run.runId),
                            key: keys.agent, agent: agentId,
                            body: CompleteRequest(
                                leaseId: run.leaseId, status: .failed, error: "completed by agent \(agentId)",
                                logs: .init(bytes: 0, sha256: String(repeating: "0", count: 64), droppedBytes: 0)))
                        #expect(completed.status == .ok, "\(completed.text)")
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(leased.count == runCount)
        #expect(Set(leased) == queued)
    }

    /// One answer: status and body.
    struct Answer {
        let status: HTTPResponseStatus
        let body: ByteBuffer

        var text: String { String(buffer: body) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            do {
                return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
            } catch {
                throw FixtureError("status \(status.code), body \(text) does not decode as \(type)")
            }
        }
    }

    static func request(
        _ http: HTTPClient, port: Int, _ method: HTTPMethod, _ path: String, key: String, agent: String? = nil,
        body: (some Encodable)?
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let agent { request.headers.add(name: AgentProtocol.agentHeader, value: agent) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        return Answer(status: response.status, body: try await response.body.collect(upTo: 1024 * 1024))
    }
}
