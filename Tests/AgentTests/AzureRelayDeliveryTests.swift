import AWSSigV4
import AsyncHTTPClient
import AzureCloud
import ControlPlane
import ControlPlaneStorage
import Foundation
import NIOSSL
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

@testable import Agent

/// Bucket relay into an Azure Blob Storage container of the project's fake Azure server (a FAKE proven with
/// azure-storage-blob and azure-identity by its self-test, over TLS with a certificate of its own).
@Suite("Bucket relay into Azure Blob Storage", .serialized)
struct AzureRelayDeliveryTests {
    /// The fake's CA, and the control plane's reader of the container under its own managed identity (IMDS).
    static func reader(_ azure: TestAzure) throws -> (RelayReader, AzureAccessTokens, TLSConfiguration) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(azure.caBundle))
        let identity = AzureAccessTokens(
            identity: .managedIdentity(clientId: nil, endpoint: .imds(azure.base)), authorityHost: azure.base,
            client: .shared, tlsConfiguration: tls)
        let reader = RelayReader(
            environment: AWSEnvironment([:]), allowedEndpoints: [azure.blobEndpoint], azure: identity,
            tlsConfiguration: tls)
        return (reader, identity, tls)
    }

    /// The sample database relayed into `customer-relay` under `outpost/`.
    static func connection(_ azure: TestAzure, encryptionScope: String? = nil) -> ConnectionRequest {
        ConnectionRequest(
            name: "shop-azure", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
            delivery: DeliverySettings(
                mode: .relay,
                relay: RelaySettings(
                    kind: .azureBlob, bucket: "customer-relay", account: TestAzure.storageAccount, prefix: "outpost",
                    endpoint: azure.blobEndpoint, encryptionScope: encryptionScope)))
    }

    /// The agent writes under AKS workload identity (a projected token file, no secret anywhere); the control plane
    /// reads with its own managed identity and publishes the catalog.
    @Test func aRelayRunWritesBlocksToAzureAndTheControlPlaneIngestsItWithItsOwnIdentity() async throws {
        let azure = try TestAzure(containers: ["customer-relay"], encryptionScopes: ["customer-cmk"])
        let (reader, serverIdentity, tls) = try Self.reader(azure)
        try await withControlPlane(relayReader: reader) { controlPlane in
            let connection = try await controlPlane.createConnection(
                Self.connection(azure, encryptionScope: "customer-cmk"))
            let run = try await controlPlane.runNow(connection.id)
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: "network:\n  caBundle: \(azure.caBundle)")
            var environment = ProcessInfo.processInfo.environment
            environment["AZURE_FEDERATED_TOKEN_FILE"] = azure.federatedTokenFile
            environment["AZURE_TENANT_ID"] = azure.tenant
            environment["AZURE_CLIENT_ID"] = TestAzure.workloadClientId
            environment["AZURE_AUTHORITY_HOST"] = azure.base
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            let client = try AzureBlobClient(
                account: TestAzure.storageAccount, container: "customer-relay", accountURL: azure.blobEndpoint,
                authorization: .bearer(serverIdentity), tlsConfiguration: tls)
            var blobs: [AzureBlob] = []
            try await client.listBlobs(prefix: "outpost/") { blobs.append($0) }
            #expect(blobs.contains { $0.name == "outpost/\(connection.id)/\(run.id)/manifest.json" })
            #expect(blobs.allSatisfy { $0.metadata["outpost-sha256"]?.count == 64 }, "\(blobs)")
            // Every blob was written under the connection's encryption scope.
            let held = try azure.blobs()[TestAzure.storageAccount] as? [String: Any]
            let container = (held?["containers"] as? [String: Any])?["customer-relay"] as? [String: Any]
            let scopes = ((container?["blobs"] as? [String: Any]) ?? [:]).values.map {
                ($0 as? [String: Any])?["encryptionScope"] as? String
            }
            #expect(scopes.count == blobs.count && scopes.allSatisfy { $0 == "customer-cmk" }, "\(scopes)")
            let assets = try await controlPlane.store.searchAssets(
                tenantId: controlPlane.tenant.id, text: "", kind: nil, connectionId: connection.id, limit: 10_000)
            #expect(assets.contains { $0.kind == "table" }, "\(assets.map(\.qualifiedName))")
        }
        #expect(try azure.requests("entra:200") >= 1)
        #expect(try azure.requests("imds:200") >= 1)
    }

    /// Without an identity in its environment, the agent writes with what its configuration names by reference:
    /// the storage account's key (Shared Key: no Entra ID token at all), or `secretStores.azure`'s app (its client
    /// secret). Neither value reaches the spool, the audit ledger or the run's logs.
    @Test(arguments: ["accountKey", "appClientSecret"])
    func aRelayWrittenWithConfiguredCredentials(credential: String) async throws {
        let azure = try TestAzure(containers: ["customer-relay"])
        let (reader, _, _) = try Self.reader(azure)
        try await withControlPlane(relayReader: reader) { controlPlane in
            let connection = try await controlPlane.createConnection(Self.connection(azure))
            let run = try await controlPlane.runNow(connection.id)
            let secretFile = azure.directory.path + "/relay-credential"
            let secret = credential == "accountKey" ? azure.accountKey : azure.clientSecret
            try Data(secret.utf8).write(to: URL(fileURLWithPath: secretFile))
            let section =
                credential == "accountKey"
                ? """
                relay:
                  azure:
                    accounts:
                      \(TestAzure.storageAccount):
                        accountKey: file:\(secretFile)
                """
                : """
                secretStores:
                  azure:
                    tenantId: "\(azure.tenant)"
                    clientId: "\(TestAzure.appClientId)"
                    clientSecret: file:\(secretFile)
                    authorityHost: "\(azure.base)"
                """
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: "network:\n  caBundle: \(azure.caBundle)\n" + section)
            var environment = ProcessInfo.processInfo.environment
            for name in environment.keys where name.hasPrefix("AZURE_") || name.hasPrefix("IDENTITY_") {
                environment[name] = nil
            }
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            let assets = try await controlPlane.store.searchAssets(
                tenantId: controlPlane.tenant.id, text: "", kind: nil, connectionId: connection.id, limit: 10_000)
            #expect(assets.contains { $0.kind == "table" })
            for file in FileManager.default.enumerator(atPath: setup.dataDirectory)?.allObjects as? [String] ?? [] {
                let text = (try? String(contentsOfFile: setup.dataDirectory + "/" + file, encoding: .utf8)) ?? ""
                #expect(!text.contains(secret), "\(file)")
            }
        }
        // The control plane's reads use IMDS; the agent asked Entra ID only for the app.
        #expect(try azure.requests("entra:200") == (credential == "accountKey" ? 0 : 1))
    }
}
