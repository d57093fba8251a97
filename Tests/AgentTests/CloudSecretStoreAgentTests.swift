import Agent
import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

extension TestControlPlane {
    /// Runs `connectionId` under one agent, then rotates the agent's API key — `store` puts a new key where the
    /// agent reads it, and the old key is revoked — and runs it again; both runs must succeed.
    ///
    /// - Returns: the new key.
    func runTwiceRotatingTheAgentKey(
        _ connectionId: String, setup: AgentSetup, environment: [String: String],
        store: @escaping @Sendable (String) throws -> Void
    ) async throws -> String {
        let replacement = Mutex("")
        try await withAgent(setup, environment: environment) { _ in
            let first = try await self.finished(try await self.runNow(connectionId).id)
            #expect(first.status == .succeeded, "\(first.error ?? "")")
            let minted = try await self.mintAgentKey()
            try store(minted.text)
            let old = try #require(try await self.store.keys(tenantId: self.tenant.id).first { $0.name == "agent" })
            _ = try await self.store.revokeKey(tenantId: self.tenant.id, id: old.id, at: WallClock.system.now)
            let second = try await self.finished(try await self.runNow(connectionId).id)
            #expect(second.status == .succeeded, "\(second.error ?? "")")
            replacement.withLock { $0 = minted.text }
        }
        return replacement.withLock { $0 }
    }
}

extension AgentRunTests {
    /// A source password in Google Secret Manager, read by the job with a service account key the agent names by
    /// reference: the run extracts, and the password (20 random characters) is in nothing the control plane or the
    /// agent wrote.
    @Test func aPasswordFromGoogleSecretManagerExtractsThroughTheAgentAndIsInNothingWritten() async throws {
        let postgres = try TestPostgres()
        let google = try TestGoogle(secrets: ["pg-password": postgres.password])
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: """
                    secretStores:
                      google:
                        credentials: "file:\(google.readerKeyFile)"
                        secretManagerEndpoint: "\(google.secretManager)"
                    """)
            let (finished, log) = try await controlPlane.runPostgres(
                named: "gcp-sm-pg", url: postgres.url(database: "postgres"),
                password: "gcp-sm:projects/\(TestGoogle.project)/secrets/pg-password", setup: setup)
            #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            #expect(log.contains("job.secret_resolved"), "\(log)")
            #expect(!log.contains(postgres.password))
            try SecretCanaryTests.expectNowhere(
                postgres.password, under: [controlPlane.directory.path, setup.directory.path])
        }
        #expect(try google.requests("secrets") == 1)
    }
}

extension AgentRunTests {
    /// Workload identity federation, as on GKE: no key anywhere, only a projected token file and a credential
    /// configuration. The agent's own API key and the source's password both live in Secret Manager; the API key is
    /// rotated in Secret Manager (a new version, the old key revoked) while the agent runs, and its next run goes
    /// through. Neither secret is in anything written.
    @Test func anAgentUnderWorkloadIdentityReadsItsKeyAndAPasswordFromSecretManagerAndFollowsARotation()
        async throws
    {
        let postgres = try TestPostgres()
        try await withControlPlane { controlPlane in
            let google = try TestGoogle(secrets: [
                "pg-password": postgres.password, "agent-key": controlPlane.agentKey,
            ])
            let federation = try google.workloadIdentity()
            var setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: """
                    secretStores:
                      google:
                        credentials: "file:\(federation.configuration)"
                        secretManagerEndpoint: "\(google.secretManager)"
                    """)
            setup.yaml = setup.yaml.replacingOccurrences(
                of: "apiKey: file:\(setup.keyFile)",
                with: "apiKey: gcp-sm:projects/\(TestGoogle.project)/secrets/agent-key")
            try FileManager.default.removeItem(atPath: setup.keyFile)
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "wif-pg", sourceKind: "postgresql", sourceURL: postgres.url(database: "postgres"),
                    secrets: ["password": "gcp-sm:projects/\(TestGoogle.project)/secrets/pg-password"]))
            var environment = ProcessInfo.processInfo.environment
            environment["PGPASSWORD"] = nil
            // Rotation: a new key as Secret Manager's latest version.
            let replacement = try await controlPlane.runTwiceRotatingTheAgentKey(
                connection.id, setup: setup, environment: environment
            ) { key in
                try google.control(
                    "/_fake/secrets/versions", ["project": TestGoogle.project, "secret": "agent-key", "data": key])
            }
            for secret in [postgres.password, controlPlane.agentKey, replacement] {
                try SecretCanaryTests.expectNowhere(
                    secret, under: [controlPlane.directory.path, setup.directory.path])
            }
            #expect(try google.requests("sts") >= 1)
            #expect(try google.requests("iam") >= 1)
        }
    }
}

extension AgentRunTests {
    /// Azure workload identity, as on AKS: no secret anywhere, only the projected token file and the variables the
    /// webhook sets. The agent's API key and the source's password both live in Key Vault; the key is rotated there
    /// (a new version, the old key revoked) while the agent runs, and its next run goes through. Neither secret is
    /// in anything written.
    @Test func anAgentUnderAzureWorkloadIdentityReadsItsKeyAndAPasswordFromKeyVaultAndFollowsARotation()
        async throws
    {
        let postgres = try TestPostgres()
        try await withControlPlane { controlPlane in
            let azure = try TestAzure(secrets: ["pg-password": postgres.password, "agent-key": controlPlane.agentKey])
            var setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: """
                    secretStores:
                      azure:
                        authorityHost: "\(azure.base)"
                        caBundle: "\(azure.caBundle)"
                    """)
            setup.yaml = setup.yaml.replacingOccurrences(
                of: "apiKey: file:\(setup.keyFile)", with: "apiKey: azure-kv:\(azure.base)/agent-key")
            try FileManager.default.removeItem(atPath: setup.keyFile)
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "akv-pg", sourceKind: "postgresql", sourceURL: postgres.url(database: "postgres"),
                    secrets: ["password": "azure-kv:\(azure.base)/pg-password"]))
            var environment = ProcessInfo.processInfo.environment
            environment["PGPASSWORD"] = nil
            environment["AZURE_FEDERATED_TOKEN_FILE"] = azure.federatedTokenFile
            environment["AZURE_TENANT_ID"] = azure.tenant
            environment["AZURE_CLIENT_ID"] = TestAzure.workloadClientId
            // Rotation: a new key as the vault's current version.
            let replacement = try await controlPlane.runTwiceRotatingTheAgentKey(
                connection.id, setup: setup, environment: environment
            ) { key in try azure.control("/_fake/vault/secrets/agent-key", ["value": key]) }
            for secret in [postgres.password, controlPlane.agentKey, replacement] {
                try SecretCanaryTests.expectNowhere(
                    secret, under: [controlPlane.directory.path, setup.directory.path])
            }
            #expect(try azure.requests("entra:200") >= 2)
            #expect(try azure.requests("vault:200") >= 4)
        }
    }
}

extension AgentCheckTests {
    /// `outpost agent --check` gets a token for the configured identity and checks Secret Manager against the policy;
    /// it reads no secret.
    @Test func agentCheckGetsAGoogleTokenAndReadsNoSecret() async throws {
        let google = try TestGoogle(secrets: ["pg-password": "never-read"])
        try await withControlPlane { controlPlane in
            func setup(hosts: String) throws -> AgentSetup {
                try AgentSetup(
                    controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\(hosts)]",
                    extra: """
                        secretStores:
                          google:
                            credentials: "file:\(google.readerKeyFile)"
                            secretManagerEndpoint: "\(google.secretManager)"
                        """)
            }
            let passing = try Self.check(try setup(hosts: "\"127.0.0.1\""), [])
            #expect(
                passing.lines.contains {
                    $0.hasPrefix("ok   google secret manager: a token for \(TestGoogle.reader) obtained")
                }, "\(passing.lines)")
            let fenced = try Self.check(try setup(hosts: "\"cp.invalid\""), [])
            #expect(
                fenced.lines.contains { $0.hasPrefix("FAIL google secret manager") && $0.contains("refuses host") },
                "\(fenced.lines)")
        }
        #expect(try google.requests("token") == 1)
        #expect(try google.requests("secrets") == 0)
    }
}

extension AgentCheckTests {
    /// `outpost agent --check` gets a Key Vault token for the configured app from Entra ID and reads no secret.
    @Test func agentCheckGetsAKeyVaultTokenAndReadsNoSecret() async throws {
        let azure = try TestAzure(secrets: ["pg-password": "never-read"])
        let secretFile = azure.directory.path + "/client-secret"
        try Data(azure.clientSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                extra: """
                    secretStores:
                      azure:
                        tenantId: "\(azure.tenant)"
                        clientId: "\(TestAzure.appClientId)"
                        clientSecret: "file:\(secretFile)"
                        authorityHost: "\(azure.base)"
                        caBundle: "\(azure.caBundle)"
                    """)
            let result = try Self.check(setup, [])
            #expect(
                result.lines.contains { $0.hasPrefix("ok   azure key vault: a Key Vault token for app outpost-app") },
                "\(result.lines)")
            #expect(!result.lines.joined().contains(azure.clientSecret))
        }
        #expect(try azure.requests("entra:200") == 1)
        #expect(try azure.requests("vault:200") == 0)
    }

    /// `--check --source` reads a source's `azure-kv:` secret as a job would: every request checked against
    /// `policy.allowedHosts` first, so a vault and an authority the policy does not name are never asked.
    @Test func agentCheckOfASourceHoldsItsKeyVaultRequestsToThePolicy() async throws {
        let azure = try TestAzure(secrets: ["pg-password": "never-read"])
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [localhost]",
                extra: """
                    secretStores:
                      azure:
                        authorityHost: "\(azure.base)"
                        caBundle: "\(azure.caBundle)"
                    """)
            let result = try Self.check(
                setup, ["--source", sampleDatabaseURL, "--secret", "password=azure-kv:\(azure.base)/pg-password"])
            let line = result.lines.first { $0.contains("source sqlite:") } ?? ""
            #expect(line.hasPrefix("FAIL"), "\(result.lines)")
            #expect(line.contains("127.0.0.1"), "\(line)")
            #expect(!result.lines.joined().contains("never-read"))
        }
        #expect(try azure.requests("vault:200") + azure.requests("vault:401") == 0)
        #expect(try azure.requests("entra:200") == 0)
    }
}
