import Connectors
import ControlPlane
import Foundation
import Logging
import OutpostProtocol
import OutpostTesting
import Secrets
import SourceURLs
import Testing

@testable import Agent

@Suite("Which secrets a connection may read, and how its source must prove who it is")
struct SecretPolicyTests {
    static func reference(_ text: String) throws -> SecretReference { try SecretReference(parsing: text) }

    @Test func patternsAllowWhatTheyNameAndNothingElse() throws {
        let policy = try SecretPolicy(
            allowedSecrets: ["env:PG_*", "command:outpost-*", "aws-sm:prod/outpost/**", "file:/run/s/*"],
            protected: .init())
        for allowed in [
            "env:PG_PASSWORD", "command:outpost-pg", "aws-sm:prod/outpost/eu/pg#password",
            "file:/run/s/pg",
        ] {
            let (decision, _) = policy.check(try Self.reference(allowed))
            #expect(decision.allowed, "\(allowed): \(decision.reason)")
        }
        for refused in [
            "env:HOME", "command:other", "aws-sm:prod/other",
            "file:/run/s/../../etc/shadow",
        ] {
            let (decision, _) = policy.check(try Self.reference(refused))
            #expect(!decision.allowed, "\(refused)")
            #expect(decision.reason.contains("'env:PG_*', 'command:outpost-*'"), "\(decision.reason)")
        }
    }

    @Test func withoutPatternsNoConnectionSecretIsRead() throws {
        let policy = try SecretPolicy(allowedSecrets: [], protected: .init())
        let (decision, _) = policy.check(try Self.reference("env:PG_PASSWORD"))
        #expect(!decision.allowed)
        #expect(decision.reason.contains("policy.allowedSecrets"), "\(decision.reason)")
    }

    @Test func patternsThatCannotBeUnderstoodAreRefusedWhenTheConfigurationIsRead() {
        for bad in ["vault", "nope:x", "file:relative/*", "env:", "env:A#b"] {
            let yaml = """
                controlPlane: {url: "https://cp.example.com", apiKey: "file:/k"}
                policy:
                  allowedSecrets: ["\(bad)"]
                """
            #expect(throws: AgentError.self, "\(bad)") {
                try AgentConfiguration.parse(yaml, file: "agent.yaml", environment: [:])
            }
        }
    }

    /// The agent's API key reached by its name, a symbolic link, a `..` path, a hard link, the data dir and the
    /// configuration file: all refused although the patterns allow every file.
    @Test func theAgentsOwnFilesAreNeverAConnectionsSecret() async throws {
        let directory = try TemporaryDirectory()
        let root = directory.path
        let keyFile = root + "/api-key"
        try Data("agent-key-canary".utf8).write(to: URL(fileURLWithPath: keyFile))
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        try Data("spool".utf8).write(to: URL(fileURLWithPath: root + "/data/spool.key"))
        try FileManager.default.createDirectory(atPath: root + "/other", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/other/link", withDestinationPath: keyFile)
        try FileManager.default.linkItem(atPath: keyFile, toPath: root + "/other/hardlink")
        try Data("fine".utf8).write(to: URL(fileURLWithPath: root + "/other/pg-password"))
        let configFile = root + "/agent.yaml"
        try Data(
            """
            controlPlane: {url: "https://cp.example.com", apiKey: "file:\(keyFile)"}
            agent: {dataDir: "\(root)/data"}
            policy:
              allowedSecrets: ["file:/**"]
            """.utf8
        ).write(to: URL(fileURLWithPath: configFile))
        let configuration = try AgentConfiguration.load(file: configFile, environment: [:])
        let policy = try SecretPolicy(
            allowedSecrets: configuration.policy.allowedSecrets,
            protected: SecretPolicy.Protected(configuration: configuration))
        for owned in [keyFile, root + "/other/link", root + "/other/../api-key", root + "/data/spool.key", configFile] {
            let (decision, _) = policy.check(try Self.reference("file:" + owned))
            #expect(!decision.allowed, "\(owned)")
            #expect(decision.reason.contains("no connection may read it"), "\(decision.reason)")
        }
        // A hard link is another name for the same file: it passes the name check and is refused once open.
        let (decision, read) = policy.check(try Self.reference("file:\(root)/other/hardlink"))
        #expect(decision.allowed)
        let files = FileSecretProvider(openedFileCheck: { try policy.checkOpenedFile(device: $0, inode: $1) })
        let error = await #expect(throws: SecretError.self) { try await files.resolve(read) }
        #expect(error?.message.contains("agent's own") == true)
        #expect(error?.message.contains("agent-key-canary") == false)
        let (fine, fineRead) = policy.check(try Self.reference("file:\(root)/other/pg-password"))
        #expect(fine.allowed)
        #expect(try await files.resolve(fineRead) == "fine")
    }

    @Test func theAgentsOwnReferencesAndVariablesAreNeverAConnectionsSecret() throws {
        var configuration = AgentConfiguration(
            controlPlane: .init(url: "https://cp.example.com", apiKey: try Self.reference("env:OUTPOST_KEY")),
            name: "a", dataDirectory: "/var/lib/outpost")
        configuration.spool.key = try Self.reference("aws-sm:agent/spool#key")
        configuration.secretStores.vault = VaultConfiguration(
            address: "https://vault.corp:8200",
            authentication: .appRole(
                mount: "approle", roleId: try Self.reference("file:/etc/outpost/role-id"),
                secretId: try Self.reference("env:VAULT_SECRET_ID")))
        configuration.network.clientKey = "/etc/outpost/client.key"
        // The relay identities the agent's environment names are its own too.
        let environment = [
            "GOOGLE_APPLICATION_CREDENTIALS": "/etc/outpost/gcs-writer.json",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        ]
        let policy = try SecretPolicy(
            allowedSecrets: ["env:*", "aws-sm:**", "file:/**"],
            protected: SecretPolicy.Protected(configuration: configuration, environment: environment))
        for owned in [
            "env:VAULT_SECRET_ID", "file:/etc/outpost/role-id", "file:/etc/outpost/client.key",
            "file:/var/run/secrets/kubernetes.io/serviceaccount/token", "file:/etc/outpost/gcs-writer.json",
            "file:/var/run/secrets/eks.amazonaws.com/serviceaccount/token", "env:AWS_SECRET_ACCESS_KEY",
            "env:AWS_SESSION_TOKEN",
        ] {
            #expect(!policy.check(try Self.reference(owned)).decision.allowed, "\(owned)")
        }
        #expect(!policy.check(try Self.reference("env:OUTPOST_KEY")).decision.allowed)
        #expect(!policy.check(try Self.reference("aws-sm:agent/spool#other")).decision.allowed)
        #expect(!policy.check(try Self.reference("aws-sm:agent/spool")).decision.allowed)
        #expect(policy.check(try Self.reference("env:PG_PASSWORD")).decision.allowed)
    }

    @Test func theGoogleSectionIsReadStrictlyAndItsKeyIsTheAgentsOwn() throws {
        func load(_ google: String) throws -> AgentConfiguration {
            try AgentConfiguration.parse(
                """
                controlPlane: {url: "https://cp.example.com", apiKey: "file:/k"}
                secretStores:
                  google: \(google)
                """, file: "agent.yaml", environment: [:])
        }
        let configuration = try load(
            "{credentials: \"file:/etc/outpost/gcp.json\", metadataHost: \"10.0.0.1:8080\", "
                + "secretManagerEndpoint: \"https://sm.private.example\"}")
        #expect(configuration.secretStores.google?.credentials?.locator == "/etc/outpost/gcp.json")
        #expect(configuration.secretStores.google?.endpoint == "https://sm.private.example")
        let policy = try SecretPolicy(
            allowedSecrets: ["file:/**"], protected: SecretPolicy.Protected(configuration: configuration))
        #expect(!policy.check(try Self.reference("file:/etc/outpost/gcp.json")).decision.allowed)
        for bad in [
            "{credentials: \"a-pasted-key\"}", "{credentials: \"gcp-sm:projects/p/secrets/k\"}",
            "{secretManagerEndpoint: \"http://sm.example\"}", "{metadataHost: \"http://x/y\"}", "{other: 1}",
        ] {
            #expect(throws: AgentError.self, "\(bad)") { try load(bad) }
        }
    }

    // MARK: - Transport

    static func transported(
        _ url: String, unverified: [String] = [], cleartext: [String] = []
    ) throws -> PostgresConnector {
        let connector = try SourceLocation.resolve(url).connector
        let policy = try SourceTransportPolicy(unverifiedSources: unverified, cleartextPasswordSources: cleartext)
        return try #require(try policy.applied(to: connector, url: url) as? PostgresConnector)
    }

    @Test func postgresSourcesProveWhoTheyAreUnlessThePolicySaysOtherwise() throws {
        #expect(try Self.transported("postgres://u@db.corp:5432/x").source.tlsMode == .verifyFull)
        #expect(try Self.transported("postgres://u@db.corp/x?sslmode=verify-ca").source.tlsMode == .verifyCA)
        for mode in ["disable", "prefer", "require"] {
            let url = "postgres://u@db.corp/x?sslmode=\(mode)"
            let error = #expect(throws: JobRunner.LocalPolicyDenied.self) { try Self.transported(url) }
            #expect(error?.reason.contains("sslmode=\(mode)") == true)
            #expect(error?.reason.contains("policy.unverifiedSources") == true)
            let allowed = try Self.transported(url, unverified: ["postgres://db.corp/*"])
            #expect(allowed.source.tlsMode.rawValue == mode)
            #expect(allowed.refusesCleartextPassword)
        }
        let loose = try Self.transported("postgres://u@db.corp/x", unverified: ["postgres://db.corp/*"])
        #expect(loose.source.tlsMode == .prefer)
        let cleartext = try Self.transported(
            "postgres://u@db.corp/x?sslmode=disable", unverified: ["postgres://db.corp/*"],
            cleartext: ["postgres://db.corp/*"])
        #expect(!cleartext.refusesCleartextPassword)
        // A local socket has no network in between.
        #expect(try Self.transported("postgres://u@/x?host=/run/postgresql").source.tlsMode == .prefer)
    }

    /// A real server configured to ask for the password in cleartext (`password` in pg_hba.conf).
    @Test func aServerAskingForACleartextPasswordOverPlainTCPGetsNothing() async throws {
        let postgres = try TestPostgres()
        let role = "outpost_cleartext_" + UUID().uuidString.prefix(8).lowercased()
        let password = "cleartext-canary-" + UUID().uuidString.prefix(8)
        try postgres.psql("CREATE ROLE \(role) LOGIN PASSWORD '\(password)';")
        let hbaFile = try postgres.psql("SHOW hba_file;").trimmingCharacters(in: .whitespacesAndNewlines)
        let original = try String(contentsOfFile: hbaFile, encoding: .utf8)
        try ("host all \(role) 127.0.0.1/32 password\n" + original).write(
            toFile: hbaFile, atomically: false, encoding: .utf8)
        try postgres.psql("SELECT pg_reload_conf();")
        defer {
            try? original.write(toFile: hbaFile, atomically: false, encoding: .utf8)
            _ = try? postgres.psql("SELECT pg_reload_conf(); DROP ROLE IF EXISTS \(role);")
        }
        let logger = Logger(label: "test")
        for mode in ["disable", "prefer"] {
            let url = "postgres://\(role)@127.0.0.1:\(postgres.port)/postgres?sslmode=\(mode)"
            var refusing = try Self.transported(url, unverified: ["postgres://127.0.0.1:*/*"])
            refusing.source.password = password
            let error = await #expect(throws: ConnectorError.self) { try await refusing.check(logger: logger) }
            #expect(error?.code == .authenticationFailed)
            #expect(
                error?.message.contains("asked for the password in cleartext") == true, "\(String(describing: error))")
            #expect(error.map { "\($0)" }?.contains(password) == false)

            var sending = try Self.transported(
                url, unverified: ["postgres://127.0.0.1:*/*"], cleartext: ["postgres://127.0.0.1:*/*"])
            sending.source.password = password
            let reached = try await sending.check(logger: logger)
            #expect(reached.contains("as \(role)"), "\(reached)")
        }
        // SCRAM over plain TCP sends no password: the guard lets it through.
        var scram = try Self.transported(
            postgres.url(database: "postgres") + "?sslmode=disable", unverified: ["postgres://127.0.0.1:*/*"])
        scram.source.password = postgres.password
        #expect(try await scram.check(logger: logger).contains("connected"))
    }
}

extension AgentRunTests {
    /// A connection naming the agent's own API key file, or a link to it, as its password: the run is refused
    /// before anything is read, and the key is in nothing the control plane holds.
    @Test func aConnectionAskingForTheAgentsKeyIsRefusedBeforeItIsRead() async throws {
        let postgres = try TestPostgres()
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane)
            let link = setup.directory.path + "/innocent-password"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: setup.keyFile)
            try await withAgent(setup) { _ in
                for reference in ["file:\(setup.keyFile)", "file:\(link)", "file:/etc/hostname"] {
                    let connection = try await controlPlane.createConnection(
                        ConnectionRequest(
                            name: "greedy-\(UUID().uuidString.prefix(6))", sourceKind: "postgresql",
                            sourceURL: postgres.url(database: "postgres"), secrets: ["password": reference]))
                    let run = try await controlPlane.runNow(connection.id)
                    let finished = try await controlPlane.finished(run.id)
                    #expect(finished.status == .failed)
                    let log = try await controlPlane.log(run.id)
                    #expect(!log.contains("job.secret_resolved"), "\(log)")
                    #expect(!log.contains(controlPlane.agentKey))
                    #expect(finished.error?.contains(controlPlane.agentKey) == false)
                    if reference == "file:/etc/hostname" {
                        #expect(finished.error?.contains("matches none of policy.allowedSecrets") == true)
                    } else {
                        #expect(finished.error?.contains("no connection may read it") == true, "\(finished)")
                    }
                }
            }
        }
    }
}

extension AgentCheckTests {
    /// Without `policy.unverifiedSources` the agent asks the server to prove who it is; the test server has no TLS.
    @Test func aPostgreSQLSourceOutsideUnverifiedSourcesMustProveWhoItIs() async throws {
        let postgres = try TestPostgres()
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, unverifiedSources: [])
            let url = "postgres://\(postgres.user)@127.0.0.1:\(postgres.port)/postgres"
            let defaulted = try Self.check(setup, ["--source", url])
            #expect(defaulted.status != 0)
            #expect(
                defaulted.lines.contains { $0.hasPrefix("FAIL source") && $0.contains("sslmode=verify-full") },
                "\(defaulted.lines)")
            let weakened = try Self.check(setup, ["--source", url + "?sslmode=disable"])
            #expect(
                weakened.lines.contains { $0.hasPrefix("FAIL source") && $0.contains("policy.unverifiedSources") },
                "\(weakened.lines)")
        }
    }
}
