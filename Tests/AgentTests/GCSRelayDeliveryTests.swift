import AWSSigV4
import AsyncHTTPClient
import Connectors
import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import GoogleCloud
import Logging
import Metadata
import NIOCore
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

@testable import Agent

/// Bucket relay into Google Cloud Storage: fake-gcs-server (a real emulator) behind the fake Google endpoints'
/// verifying proxy, which checks every bearer token.
@Suite("Bucket relay into Cloud Storage", .serialized)
struct GCSRelayDeliveryTests {
    /// The agent writes with its service account key (GOOGLE_APPLICATION_CREDENTIALS); the control plane reads with
    /// its own identity (the metadata server's account) and publishes the catalog.
    @Test func aRelayRunWritesToCloudStorageAndTheControlPlaneIngestsItWithItsOwnIdentity() async throws {
        let google = try TestGoogle(buckets: ["customer-relay"])
        let reader = RelayReader(
            environment: AWSEnvironment([:]), allowedEndpoints: [google.storage],
            google: GoogleAccessTokens(identity: .metadataServer(host: google.metadataHost), client: .shared))
        try await withControlPlane(relayReader: reader) { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "shop-gcs", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
                    delivery: DeliverySettings(
                        mode: .relay,
                        relay: RelaySettings(
                            kind: .gcs, bucket: "customer-relay", prefix: "outpost", endpoint: google.storage))))
            let run = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            var environment = ProcessInfo.processInfo.environment
            environment["GOOGLE_APPLICATION_CREDENTIALS"] = google.readerKeyFile
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            var objects: [GCSObject] = []
            try await Self.client(google).listObjects(prefix: "outpost/") { objects.append($0) }
            #expect(objects.contains { $0.name == "outpost/\(connection.id)/\(run.id)/manifest.json" })
            #expect(objects.allSatisfy { $0.metadata["outpost-sha256"]?.count == 64 }, "\(objects)")
            let assets = try await controlPlane.store.searchAssets(
                tenantId: controlPlane.tenant.id, text: "", kind: nil, connectionId: connection.id, limit: 10_000)
            #expect(assets.contains { $0.kind == "table" }, "\(assets.map(\.qualifiedName))")
        }
        #expect(try google.requests("metadata") >= 1)
    }

    /// A delivery resumed after a restart sends only what the bucket lacks: the listing carries each object's
    /// SHA-256, and objects are created only if absent, so what an earlier attempt finished is kept.
    @Test func aResumedDeliverySendsOnlyTheMissingObjects() async throws {
        let google = try TestGoogle(buckets: ["customer-relay"])
        let directory = try TemporaryDirectory()
        let key = Array(repeating: UInt8(42), count: 32)
        let manifest = try await Extraction(
            connector: SQLiteConnector(path: BuildProducts.repositoryRoot + "/Samples/shop.db"),
            scope: ExtractionScope(connection: "shop"), folder: ExtractionFolder(path: directory.path, sealingKey: key),
            maxChunkBytes: 2048
        ).run(progress: ExtractionProgress(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        #expect(manifest.files.count >= 3)
        var policy = AgentConfiguration.Policy()
        policy.allowedHosts = ["127.0.0.1"]
        let network = try OutboundNetwork(network: .init(), environment: [:])
        let delivery = RelayDelivery(
            target: RelayTarget(kind: .gcs, bucket: "customer-relay", prefix: "chaos/", endpoint: google.storage),
            network: network, policy: policy, environment: ["GOOGLE_APPLICATION_CREDENTIALS": google.readerKeyFile],
            controlPlaneHost: "127.0.0.1", folder: directory.path, key: key,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let first = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        #expect(first.objects.count == manifest.files.count + 1)
        let client = try Self.client(google)
        var generations: [String: String] = [:]
        try await client.listObjects(prefix: "chaos/") { generations[$0.name] = $0.generation }
        #expect(generations.count == first.objects.count)

        // What an earlier attempt can leave: one object missing, another with other bytes of the same size.
        let missing = first.objects[0].key
        let wrong = first.objects[1]
        try await client.delete(name: missing)
        let other = [UInt8](repeating: 0x78, count: Int(wrong.bytes))
        var offset = 0
        try await client.upload(
            name: wrong.key, size: wrong.bytes, metadata: ["outpost-sha256": String(repeating: "0", count: 64)]
        ) { count in
            defer { offset = min(other.count, offset + count) }
            return Array(other[offset..<min(other.count, offset + count)])
        }
        var before: [String: String] = [:]
        try await client.listObjects(prefix: "chaos/") { before[$0.name] = $0.generation }
        let resumed = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        #expect(resumed == first)
        var after: [String: String] = [:]
        try await client.listObjects(prefix: "chaos/") { after[$0.name] = $0.generation }
        #expect(after.count == first.objects.count)
        for (name, generation) in after where name != missing && name != wrong.key {
            #expect(generations[name] == generation, "\(name) was written again")
        }
        #expect(after[missing] != nil)
        #expect(after[wrong.key] != before[wrong.key], "the other bytes were kept")
        var stored: [UInt8] = []
        try await client.download(name: wrong.key) { stored += $0.readableBytesView }
        #expect(Hex.encode(SHA256.hash(data: stored)) == wrong.sha256)

        // A bucket endpoint the local policy does not name is refused before any request.
        var fenced = policy
        fenced.allowedHosts = ["storage.googleapis.com"]
        let refused = RelayDelivery(
            target: delivery.target, network: network, policy: fenced, environment: delivery.environment,
            controlPlaneHost: "127.0.0.1", folder: directory.path, key: key, logger: delivery.logger)
        let error = await #expect(throws: AgentError.self) {
            _ = try await refused.deliver(runId: "run_2", connectionId: "con_1")
        }
        #expect(error?.message.contains("policy.allowedHosts") == true, "\(error?.message ?? "")")
        await network.shutdown()
    }

    static func client(_ google: TestGoogle) throws -> GCSClient {
        let key = try GoogleServiceAccountKey(json: Array(Data(contentsOf: URL(fileURLWithPath: google.readerKeyFile))))
        return try GCSClient(
            bucket: "customer-relay", endpoint: google.storage,
            tokens: GoogleAccessTokens(identity: .serviceAccount(key), client: .shared))
    }
}

extension AgentCheckTests {
    /// `outpost agent --check --relay gs://…` gets a token, asks Cloud Storage which permissions the identity
    /// holds, and writes nothing; a bucket that does not exist or an endpoint the policy refuses fails the line.
    @Test func agentCheckAsksCloudStorageForTheRelayPermissionsAndWritesNothing() async throws {
        let google = try TestGoogle(buckets: ["customer-relay"])
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            let identity = ["GOOGLE_APPLICATION_CREDENTIALS": google.readerKeyFile]
            let passing = try Self.check(
                setup, ["--relay", "gs://customer-relay/outpost", "--relay-endpoint", google.storage],
                environment: identity)
            #expect(
                passing.lines.contains {
                    $0.hasPrefix(
                        "ok   relay gs://customer-relay/outpost/: a token for the agent's Google identity; it may create objects and list them"
                    )
                }, "\(passing.lines)")
            let missing = try Self.check(
                setup, ["--relay", "gs://no-such-bucket", "--relay-endpoint", google.storage], environment: identity)
            #expect(
                missing.lines.contains {
                    $0.hasPrefix("FAIL relay gs://no-such-bucket/") && $0.contains("NoSuchBucket")
                },
                "\(missing.lines)")
            let fenced = try Self.check(
                try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"cp.invalid\"]"),
                ["--relay", "gs://customer-relay", "--relay-endpoint", google.storage], environment: identity)
            #expect(
                fenced.lines.contains { $0.hasPrefix("FAIL relay") && $0.contains("policy.allowedHosts") },
                "\(fenced.lines)")
        }
        var objects = 0
        try await GCSRelayDeliveryTests.client(google).listObjects(prefix: "") { _ in objects += 1 }
        #expect(objects == 0)
    }

    /// A resumable session is kept sealed beside the run's files, for the same object, precondition and content
    /// only, and cleared once the upload ends.
    @Test func resumableSessionsAreKeptSealedPerObjectPreconditionAndContent() throws {
        let directory = try TemporaryDirectory()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let google = GoogleAccessTokens(identity: .metadataServer(host: "127.0.0.1:9"), client: .shared)
        let bucket = GCSRelayBucket(
            client: try GCSClient(bucket: "relay", endpoint: "http://127.0.0.1:9", tokens: google),
            target: RelayTarget(kind: .gcs, bucket: "relay", prefix: "p"), sessions: directory.path + "/relay-sessions")
        let sha = String(repeating: "a", count: 64)
        let store = try #require(
            bucket.sessionStore(key: "p/c/r/records.jsonl.gz", generation: 0, sha256: sha, spoolKey: key))
        #expect(store.load() == nil)
        let uri = "http://127.0.0.1:9/upload/storage/v1/b/relay/o?uploadType=resumable&upload_id=canary-session-42"
        store.save(uri)
        #expect(store.load() == uri)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/relay-sessions")
        #expect(files.count == 1)
        let sealed = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/relay-sessions/" + files[0]))
        #expect(!String(decoding: sealed, as: UTF8.self).contains("canary-session-42"))
        // Another precondition or other content: not this session.
        #expect(
            bucket.sessionStore(key: "p/c/r/records.jsonl.gz", generation: 7, sha256: sha, spoolKey: key)?.load() == nil
        )
        #expect(
            bucket.sessionStore(
                key: "p/c/r/records.jsonl.gz", generation: 0, sha256: String(repeating: "b", count: 64), spoolKey: key)?
                .load() == nil)
        store.clear()
        #expect(store.load() == nil)
    }
}
