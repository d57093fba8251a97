import AzureCloud
import ControlPlane
import Foundation
import NIOSSL
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

/// `outpost server` on Azure Blob Storage and an `outpost agent` relaying into a customer's container, as
/// processes against the fake Azure endpoints (HTTPS with a private CA, which both trust from a bundle): the
/// server under an App Service managed identity (user delegation SAS for direct uploads), the agent under AKS
/// workload identity with the source password in Key Vault.
@Suite("Azure end to end", .serialized)
struct AzureEndToEndTests {
    @Test func aServerOnBlobStorageIngestsUploadsThroughSASAndRelaysFromACustomerContainer() async throws {
        let source = try SourceDatabase()
        let azure = try TestAzure(
            secrets: ["pg-password": source.password], containers: ["outpost-blobs", "customer-relay"])
        let server = try ServerProcess(
            arguments: [
                "--blob-store", "azure://\(TestAzure.storageAccount)/outpost-blobs/cp", "--blob-store-endpoint",
                azure.blobEndpoint, "--relay-endpoint", azure.blobEndpoint, "--ca-bundle", azure.caBundle,
            ],
            environment: environment([
                "IDENTITY_ENDPOINT": azure.appServiceEndpoint, "IDENTITY_HEADER": azure.identityHeader,
            ]))
        try await server.start()
        let admin = try server.admin
        let password = "azure-kv:\(azure.base)/pg-password"
        let direct = try await admin.createConnection(source.connection(name: "sales", password: password))
        let relayed = try await admin.createConnection(
            source.connection(
                name: "sales-relay", password: password,
                delivery: DeliverySettings(
                    mode: .relay,
                    relay: RelaySettings(
                        kind: .azureBlob, bucket: "customer-relay", account: TestAzure.storageAccount,
                        prefix: "outpost", endpoint: azure.blobEndpoint))))
        var setup = try AgentSetup(server: server, key: try await admin.createKey(name: "agent", role: .agent))
        setup.yaml += """

            secretStores:
              azure:
                authorityHost: "\(azure.base)"
                caBundle: "\(azure.caBundle)"
            network:
              caBundle: "\(azure.caBundle)"

            """
        let agent = try setup.start(
            environment: environment([
                "AZURE_FEDERATED_TOKEN_FILE": azure.federatedTokenFile, "AZURE_TENANT_ID": azure.tenant,
                "AZURE_CLIENT_ID": TestAzure.workloadClientId, "AZURE_AUTHORITY_HOST": azure.base,
            ]))
        try await runEachThenStop([direct, relayed], admin: admin, agent: agent, server: server)

        let key = try AzureSharedKey(account: TestAzure.storageAccount, base64Key: azure.accountKey)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(azure.caBundle))
        var names: [String: [String]] = [:]
        for container in ["outpost-blobs", "customer-relay"] {
            let client = try AzureBlobClient(
                account: TestAzure.storageAccount, container: container, accountURL: azure.blobEndpoint,
                authorization: .sharedKey(key), tlsConfiguration: tls)
            try await client.listBlobs(prefix: "") { names[container, default: []].append($0.name) }
        }
        #expect(names["outpost-blobs"]?.contains { $0.hasPrefix("cp/") && $0.hasSuffix("/manifest.json") } == true)
        #expect(names["customer-relay"]?.contains { $0.hasPrefix("outpost/\(relayed.id)/") } == true, "\(names)")
        // The server's identity is App Service's; the agent's, federated; the password came from the vault.
        #expect(try azure.requests("identity:200") >= 1)
        #expect(try azure.requests("entra:200") >= 1)
        #expect(try azure.requests("vault:200") >= 2)
        for log in [server.log, agent.log] {
            #expect(!log.contains(source.password))
            #expect(!log.contains(azure.identityHeader))
            #expect(!log.contains("eyJ"), "a token in a log")
        }
    }
}
