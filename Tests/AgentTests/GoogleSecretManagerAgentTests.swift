import Agent
import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

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
