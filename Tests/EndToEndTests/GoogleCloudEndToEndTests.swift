import AsyncHTTPClient
import ControlPlane
import Foundation
import GoogleCloud
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

/// `outpost server` on Cloud Storage and an `outpost agent` relaying into a customer's Cloud Storage bucket, as
/// processes, the server with a service account key (and an HMAC key signing upload URLs), the agent under workload
/// identity federation (fake-gcs-server
/// behind the fake Google endpoints' verifying proxy, the fake STS and IAM Credentials).
@Suite("Google Cloud end to end", .serialized)
struct GoogleCloudEndToEndTests {
    @Test func aServerOnCloudStorageIngestsDirectUploadsThroughSignedURLsAndRelaysFromACustomerBucket() async throws {
        let source = try SourceDatabase()
        let database = try ControlPlaneDatabase()
        let google = try TestGoogle(buckets: ["outpost-blobs", "customer-relay"])
        // The server holds `reader`'s key; the customer's agent holds no key at all: workload identity federation
        // of a token file, through STS and IAM Credentials.
        let federation = try google.workloadIdentity()
        // Upload URLs are signed with an HMAC key of `reader` (GOOG4-HMAC-SHA256), kept in a file.
        let hmacFile = google.directory.path + "/hmac-key"
        try Data("\(TestGoogle.hmacAccessId):\(google.hmacSecret)\n".utf8).write(to: URL(fileURLWithPath: hmacFile))
        let server = try ServerProcess(
            arguments: [
                "--blob-store", "gs://outpost-blobs/cp", "--blob-store-endpoint", google.storage, "--relay-endpoint",
                google.storage, "--blob-store-hmac-key", "file:\(hmacFile)",
            ],
            environment: environment([
                "OUTPOST_DATABASE_URL": database.url, "GOOGLE_APPLICATION_CREDENTIALS": google.readerKeyFile,
            ]))
        try await server.start()
        let admin = try server.admin
        let direct = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        let relayed = try await admin.createConnection(
            source.connection(
                name: "sales-relay", password: "command:pw",
                delivery: DeliverySettings(
                    mode: .relay,
                    relay: RelaySettings(
                        kind: .gcs, bucket: "customer-relay", prefix: "outpost", endpoint: google.storage)
                )))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "echo \(source.password)"])
        let agent = try setup.start(
            environment: environment(["GOOGLE_APPLICATION_CREDENTIALS": federation.configuration]))
        try await runEachThenStop([direct, relayed], admin: admin, agent: agent, server: server)

        let key = try GoogleServiceAccountKey(json: Array(Data(contentsOf: URL(fileURLWithPath: google.readerKeyFile))))
        let tokens = GoogleAccessTokens(identity: .serviceAccount(key), client: .shared)
        var names: [String: [String]] = [:]
        for bucket in ["outpost-blobs", "customer-relay"] {
            try await GCSClient(bucket: bucket, endpoint: google.storage, tokens: tokens).listObjects(prefix: "") {
                names[bucket, default: []].append($0.name)
            }
        }
        #expect(names["outpost-blobs"]?.contains { $0.hasPrefix("cp/") && $0.hasSuffix("/manifest.json") } == true)
        #expect(names["customer-relay"]?.contains { $0.hasPrefix("outpost/\(relayed.id)/") } == true, "\(names)")
        #expect(try google.requests("sts") >= 1)
        // Neither process wrote a token or a key into what it printed.
        for log in [server.log, agent.log] {
            #expect(!log.contains("ya29."))
            #expect(!log.contains("PRIVATE KEY"))
            #expect(!log.contains(google.hmacSecret))
        }
    }
}
