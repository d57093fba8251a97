import AWSSigV4
import Agent
import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

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
}
