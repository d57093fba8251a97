import ControlPlane
import Foundation
import Logging
import OutpostProtocol
import OutpostTesting
import Secrets
import Synchronization
import Testing

@testable import Agent

/// The log shipper against the real control plane when it keeps refusing the log.
@Suite("Log shipper", .serialized)
struct LogShipperTests {
    /// Keeps every message logged through it, with its level.
    final class Recorder: Sendable {
        let entries = Mutex<[(Logger.Level, String)]>([])

        func count(_ message: String, level: Logger.Level? = nil) -> Int {
            entries.withLock { $0.filter { $0.1 == message && (level == nil || $0.0 == level) }.count }
        }
    }

    struct RecordingHandler: LogHandler {
        let recorder: Recorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.entries.withLock { $0.append((event.level, event.message.description)) }
        }
    }

    @Test func aControlPlaneThatKeepsRefusingTheLogIsAskedWithBackoffAndWarnedAboutOnce() async throws {
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            _ = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane)
            let network = try OutboundNetwork(network: .init(), environment: [:])
            let keys = APIKeyProvider(
                reference: try SecretReference(parsing: "file:" + setup.keyFile),
                resolver: SecretResolver(providers: [FileSecretProvider()]), refreshInterval: .seconds(60),
                retryInterval: .milliseconds(200))
            let client = ControlPlaneClient(
                baseURL: controlPlane.url, keys: keys, network: network, requestTimeout: .seconds(10), version: "0.1.0",
                agentId: "agt_shipper")
            var assignment = try #require(
                try await client.claim(
                    ClaimRequest(
                        agentId: "agt_shipper", agentName: "shipper", version: "0.1.0", freeSlots: 1, pools: [],
                        waitSeconds: 5)))
            // A lease id the control plane never issued: every chunk is refused with 409 stale_lease.
            assignment.leaseId += 1000
            let spool = try Spool(
                directory: setup.dataDirectory + "/spool", key: Array(repeating: 7, count: 32), capBytes: 1 << 30)
            _ = try spool.appendLog(runId: assignment.runId, Array("job.started\n".utf8))
            let tracker = RunTracker(spool: spool, state: RunState(assignment: assignment, startedAt: Timestamps.now()))
            let recorder = Recorder()
            let logger = Logger(label: "shipper") { _ in RecordingHandler(recorder: recorder) }
            let shipper = LogShipper(client: client, tracker: tracker, metrics: nil, logger: logger)

            // Three seconds of shipping every 100 ms: once per round before, with backoff now.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await shipper.run(interval: .milliseconds(100)) }
                try? await Task.sleep(for: .seconds(3))
                group.cancelAll()
            }
            await network.shutdown()

            let warnings = recorder.count("log.ship_failed", level: .warning)
            let rounds = warnings + recorder.count("log.ship_deferred")
            #expect(warnings == 1)
            #expect(rounds >= 2 && rounds <= 12, "\(rounds) rounds in 3 s")
            #expect(await tracker.state.logAcknowledged == 0)
        }
    }
}
