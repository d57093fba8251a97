import AsyncHTTPClient
import AzureCloud
import Foundation
import OutpostTesting
import Testing

@testable import Secrets

/// `azure-kv:` against the project's fake Azure server (Entra ID, managed identity, Key Vault over TLS; a fake
/// proven with azure-identity and azure-keyvault-secrets by its self-test).
@Suite("Azure Key Vault")
struct AzureKeyVaultTests {
    static let canary = "CANARY-akv-3b9d0e51f7"

    static func provider(
        _ azure: TestAzure, settings: AzureKeyVaultSettings? = nil, environment: [String: String] = [:],
        hostCheck: @escaping @Sendable (String) throws -> Void = { _ in }
    ) -> AzureKeyVaultSecretProvider {
        var settings = settings ?? AzureKeyVaultSettings()
        settings.authorityHost = settings.authorityHost ?? azure.base
        settings.caBundle = azure.caBundle
        return AzureKeyVaultSecretProvider(
            settings: settings, clientForHost: { _ in .shared },
            credentials: { try await SecretResolver.standard.resolve($0) },
            hostCheck: hostCheck, environment: environment, retryDelay: .milliseconds(10))
    }

    static func app(_ azure: TestAzure, secretFile: String) -> AzureKeyVaultSettings {
        AzureKeyVaultSettings(
            tenantId: azure.tenant, clientId: TestAzure.appClientId,
            clientSecret: SecretReference(store: .file, locator: secretFile))
    }

    static func resolve(_ provider: AzureKeyVaultSecretProvider, _ text: String) async throws -> String {
        try await SecretResolver(providers: [provider]).resolve(try SecretReference(parsing: text))
    }

    @Test func aClientSecretReadsTheCurrentVersionANamedOneAFieldAndARotation() async throws {
        let azure = try TestAzure(secrets: ["db-password": Self.canary, "db": #"{"user": "u", "password": "p"}"#])
        let secretFile = azure.directory.path + "/client-secret"
        try Data(azure.clientSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
        let provider = Self.provider(azure, settings: Self.app(azure, secretFile: secretFile))
        #expect(try await Self.resolve(provider, "azure-kv:\(azure.base)/db-password") == Self.canary)
        #expect(try await Self.resolve(provider, "azure-kv:\(azure.base)/db#password") == "p")
        // Rotation: a new version becomes current; the next read takes it.
        try azure.control("/_fake/vault/secrets/db-password", ["value": "rotated"])
        #expect(try await Self.resolve(provider, "azure-kv:\(azure.base)/db-password") == "rotated")
        // The challenge was answered once; one token for the provider's life.
        #expect(try azure.requests("vault:401") == 1)
        #expect(try azure.requests("entra:200") == 1)
    }

    @Test func everyIdentityWithoutASecretInAFileReadsTheVault() async throws {
        let azure = try TestAzure(secrets: ["db-password": Self.canary])
        let reference = "azure-kv:\(azure.base)/db-password"
        // A certificate registered on the app (a JWT client assertion).
        let certificate = Self.provider(
            azure,
            settings: AzureKeyVaultSettings(
                tenantId: azure.tenant, clientId: TestAzure.appClientId,
                clientCertificate: SecretReference(store: .file, locator: azure.certificateFile)))
        #expect(try await Self.resolve(certificate, reference) == Self.canary)
        // Workload identity on AKS: the federated token file the webhook projects.
        let workload = Self.provider(
            azure,
            environment: [
                "AZURE_FEDERATED_TOKEN_FILE": azure.federatedTokenFile, "AZURE_TENANT_ID": azure.tenant,
                "AZURE_CLIENT_ID": TestAzure.workloadClientId,
            ])
        #expect(try await Self.resolve(workload, reference) == Self.canary)
        // Managed identity through IMDS, then through App Service's identity endpoint.
        let imds = Self.provider(azure, settings: AzureKeyVaultSettings(imdsEndpoint: azure.base))
        #expect(try await Self.resolve(imds, reference) == Self.canary)
        let appService = Self.provider(
            azure,
            environment: ["IDENTITY_ENDPOINT": azure.appServiceEndpoint, "IDENTITY_HEADER": azure.identityHeader])
        #expect(try await Self.resolve(appService, reference) == Self.canary)
        #expect(try azure.requests("entra:200") == 2)
        #expect(try azure.requests("imds:200") == 1)
        #expect(try azure.requests("identity:200") == 1)
    }

    @Test func refusalsSayWhatToGrantAndNeverShowAValueASecretOrAToken() async throws {
        let azure = try TestAzure(secrets: ["db-password": Self.canary], readers: [TestAzure.managedIdentityClientId])
        let secretFile = azure.directory.path + "/client-secret"
        try Data(azure.clientSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
        let app = Self.provider(azure, settings: Self.app(azure, secretFile: secretFile))
        let denied = await #expect(throws: SecretError.self) {
            try await Self.resolve(app, "azure-kv:\(azure.base)/db-password")
        }
        #expect(denied?.message.contains("Key Vault Secrets User") == true, "\(String(describing: denied))")
        let reader = Self.provider(azure, settings: AzureKeyVaultSettings(imdsEndpoint: azure.base))
        let missing = await #expect(throws: SecretError.self) {
            try await Self.resolve(reader, "azure-kv:\(azure.base)/nope")
        }
        #expect(missing?.code == .notFound)
        try Data("wrong".utf8).write(to: URL(fileURLWithPath: secretFile))
        let wrongSecret = await #expect(throws: SecretError.self) {
            try await Self.resolve(
                Self.provider(azure, settings: Self.app(azure, secretFile: secretFile)),
                "azure-kv:\(azure.base)/db-password")
        }
        #expect(wrongSecret?.message.contains("AADSTS7000215") == true, "\(String(describing: wrongSecret))")
        for error in [denied, missing, wrongSecret].compactMap({ $0 }) {
            #expect(!"\(error)".contains(Self.canary))
            #expect(!"\(error)".contains(azure.clientSecret))
            #expect(!"\(error)".contains("eyJ"), "no token in \(error)")
        }
    }

    @Test func malformedReferencesForeignChallengesAndRefusedHostsAreNeverSent() async throws {
        let azure = try TestAzure(secrets: ["db-password": Self.canary])
        let provider = Self.provider(azure, settings: AzureKeyVaultSettings(imdsEndpoint: azure.base))
        for bad in [
            "azure-kv:db-password", "azure-kv:v/a b", "azure-kv:myvault/name/not-a-version",
            "azure-kv:http://vault.example.com/name", "azure-kv:ab/name",
        ] {
            let error = await #expect(throws: SecretError.self) { try await Self.resolve(provider, bad) }
            #expect(error?.code == .invalidReference, "\(bad)")
        }
        #expect(
            try AzureKeyVaultSecretProvider.locate(
                try SecretReference(parsing: "azure-kv:Acme-Vault/pg/0123456789abcdef0123456789abcdef"))
                == ("https://acme-vault.vault.azure.net", "pg/0123456789abcdef0123456789abcdef"))
        #expect(
            try AzureKeyVaultSecretProvider.scope(
                challenge:
                    #"Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net""#,
                vault: "v") == "https://vault.azure.net/.default")
        #expect(
            AzureKeyVaultSecretProvider.vaultResource(authority: "https://login.chinacloudapi.cn/")
                == "https://vault.azure.cn")
        #expect(AzureKeyVaultSecretProvider.vaultResource(authority: azure.base) == "https://vault.azure.net")
        // A vault that asks for a token of another resource gets nothing.
        #expect(throws: SecretError.self) {
            try AzureKeyVaultSecretProvider.scope(
                challenge:
                    #"Bearer authorization="https://login.microsoftonline.com/t", resource="https://storage.azure.com""#,
                vault: "v")
        }
        struct Refused: Error {}
        let fenced = Self.provider(azure, settings: AzureKeyVaultSettings(imdsEndpoint: azure.base)) { _ in
            throw Refused()
        }
        await #expect(throws: Refused.self) { try await Self.resolve(fenced, "azure-kv:\(azure.base)/db-password") }
        #expect(try azure.requests("vault:401") == 0)
    }
}
