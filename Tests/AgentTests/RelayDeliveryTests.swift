import AWSSigV4
import Connectors
import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

@testable import Agent

@Suite("Bucket relay delivery", .serialized)
struct RelayDeliveryTests {
    @Test func aRelayRunWritesEncryptedObjectsToTheBucketAndPublishesTheSameCatalogAsDirect() async throws {
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='customer-relay')")
        let reader = RelayReader(environment: AWSEnvironment(moto.environment()), allowedEndpoints: [moto.url])
        try await withControlPlane(relayReader: reader) { controlPlane in
            let direct = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let relayed = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "shop-relay", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
                    delivery: DeliverySettings(
                        mode: .relay,
                        relay: RelaySettings(
                            bucket: "customer-relay", prefix: "outpost/", region: "us-east-1", endpoint: moto.url))))
            let directRun = try await controlPlane.runNow(direct.id)
            let relayRun = try await controlPlane.runNow(relayed.id)
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            var environment = ProcessInfo.processInfo.environment
            environment.merge(moto.environment()) { $1 }
            try await withAgent(setup, environment: environment) { _ in
                #expect(try await controlPlane.finished(directRun.id).status == .succeeded)
                let finished = try await controlPlane.finished(relayRun.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            let listing = try moto.boto3(
                """
                for o in client('s3').list_objects_v2(Bucket='customer-relay')['Contents']:
                    h = client('s3').head_object(Bucket='customer-relay', Key=o['Key'])
                    print(o['Key'], h.get('ServerSideEncryption'))
                """)
            let lines = listing.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("outpost/\(relayed.id)/\(relayRun.id)/manifest.json AES256") })
            #expect(lines.allSatisfy { $0.hasSuffix(" AES256") })
            let store = controlPlane.store
            let tenant = controlPlane.tenant.id
            let viaDirect = try await store.searchAssets(
                tenantId: tenant, text: "", kind: nil, connectionId: direct.id, limit: 10_000)
            let viaRelay = try await store.searchAssets(
                tenantId: tenant, text: "", kind: nil, connectionId: relayed.id, limit: 10_000)
            #expect(!viaDirect.isEmpty)
            // Qualified names (and lineage targets) carry the connection's name; otherwise asset for asset equal.
            let directNames = viaDirect.map { "\($0.kind) \($0.qualifiedName)" }.sorted()
            let relay = viaRelay.map {
                "\($0.kind) \($0.qualifiedName)".replacingOccurrences(of: "shop-relay", with: "shop")
            }
            #expect(directNames == relay.sorted())
            let ledger = try String(contentsOfFile: setup.dataDirectory + "/audit.jsonl", encoding: .utf8)
            #expect(ledger.contains("customer-relay"))
        }
    }

    @Test func aBucketEndpointOutsideTheLocalPolicyIsRefusedBeforeAnyUpload() async throws {
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='customer-relay')")
        try await withControlPlane { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
                    delivery: DeliverySettings(
                        mode: .relay,
                        relay: RelaySettings(
                            bucket: "customer-relay", prefix: "outpost/", region: "us-east-1", endpoint: moto.url))))
            let run = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(controlPlane: controlPlane)
            var environment = ProcessInfo.processInfo.environment
            environment.merge(moto.environment()) { $1 }
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .failed)
                #expect(finished.error?.contains("policy.allowedHosts") == true, "\(finished.error ?? "")")
            }
            let count = try moto.boto3(
                "print(client('s3').list_objects_v2(Bucket='customer-relay').get('KeyCount', 0))")
            #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }

    @Test func aResumedRelayDeliverySendsOnlyTheObjectsTheBucketLacksOrHoldsWrong() async throws {
        let moto = try TestMoto()
        try moto.boto3(
            """
            client('s3').create_bucket(Bucket='customer-relay')
            client('s3').put_bucket_versioning(
                Bucket='customer-relay', VersioningConfiguration={'Status': 'Enabled'})
            """)
        // A spooled extraction of the sample database in several small sealed chunks.
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
            // No trailing '/': the prefix is still a folder of its own.
            target: RelayTarget(bucket: "customer-relay", prefix: "chaos", region: "us-east-1", endpoint: moto.url),
            network: network, policy: policy, environment: moto.environment(), controlPlaneHost: "127.0.0.1",
            folder: directory.path, key: key, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })

        let first = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        #expect(first.manifestKey == "chaos/con_1/run_1/manifest.json")
        #expect(first.objects.allSatisfy { $0.key.hasPrefix("chaos/con_1/run_1/") }, "\(first.objects.map(\.key))")
        #expect(first.objects.count == manifest.files.count + 1)

        // What an agent stopped mid-delivery can leave: one chunk never written, another cut short and rewritten
        // with other bytes of the same size.
        let missing = first.objects[0]
        let wrong = first.objects[1]
        try moto.boto3(
            """
            s3 = client('s3')
            s3.delete_object(Bucket='customer-relay', Key='\(missing.key)')
            s3.put_object(Bucket='customer-relay', Key='\(wrong.key)', Body=b'x' * \(wrong.bytes))
            """)

        // Resumed by a new agent process: nothing remembered but what the bucket holds.
        let resumed = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        #expect(resumed == first)
        await network.shutdown()
        let versions = try moto.boto3(
            """
            listing = client('s3').list_object_versions(Bucket='customer-relay')
            for v in listing.get('Versions', []):
                print(v['Key'])
            """
        ).split(separator: "\n").map(String.init)
        // Written once by the first delivery, again only where the bucket lacked it or held other bytes.
        for object in first.objects {
            let expected = object.key == missing.key || object.key == wrong.key ? (object.key == wrong.key ? 3 : 2) : 1
            #expect(versions.filter { $0 == object.key }.count == expected, "\(object.key): \(versions)")
        }
        let check = try moto.boto3(
            """
            import hashlib
            s3 = client('s3')
            for key in ['\(missing.key)', '\(wrong.key)']:
                print(hashlib.sha256(s3.get_object(Bucket='customer-relay', Key=key)['Body'].read()).hexdigest())
            """)
        #expect(check.split(separator: "\n").map(String.init) == [missing.sha256, wrong.sha256])
    }

    @Test func aResumedDeliveryToALocalFolderRewritesOnlyTheFilesThatAreMissingOrDiffer() async throws {
        let directory = try TemporaryDirectory()
        let key = Array(repeating: UInt8(42), count: 32)
        try FileManager.default.createDirectory(atPath: directory.path + "/spool", withIntermediateDirectories: true)
        let manifest = try await Extraction(
            connector: SQLiteConnector(path: BuildProducts.repositoryRoot + "/Samples/shop.db"),
            scope: ExtractionScope(connection: "shop"),
            folder: ExtractionFolder(path: directory.path + "/spool", sealingKey: key), maxChunkBytes: 2048
        ).run(progress: ExtractionProgress(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        #expect(manifest.files.count >= 3)
        let network = try OutboundNetwork(network: .init(), environment: [:])
        let delivery = RelayDelivery(
            target: RelayTarget(
                bucket: "relay", prefix: "chaos", region: "us-east-1", endpoint: "file://" + directory.path),
            network: network, policy: AgentConfiguration.Policy(), environment: [:], controlPlaneHost: "127.0.0.1",
            folder: directory.path + "/spool", key: key,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let first = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        await network.shutdown()
        let root = directory.path + "/relay/"
        func inode(_ key: String) -> Int? {
            (try? FileManager.default.attributesOfItem(atPath: root + key))?[.systemFileNumber] as? Int
        }
        let before = Dictionary(uniqueKeysWithValues: first.objects.map { ($0.key, inode($0.key)) })
        #expect(before.keys.allSatisfy { $0.hasPrefix("chaos/con_1/run_1/") })
        let missing = first.objects[0].key
        let wrong = first.objects[1].key
        try FileManager.default.removeItem(atPath: root + missing)
        try Data(repeating: 0x78, count: Int(first.objects[1].bytes)).write(to: URL(fileURLWithPath: root + wrong))
        let changed = inode(wrong)

        let resumed = try await delivery.deliver(runId: "run_1", connectionId: "con_1")
        #expect(resumed == first)
        for object in first.objects {
            if object.key == missing {
                #expect(inode(object.key) != nil)
            } else if object.key == wrong {
                #expect(inode(object.key) != changed)
            } else {
                #expect(inode(object.key) == before[object.key] ?? nil, "\(object.key) was written again")
            }
        }
    }
}
