import Agent
import AsyncHTTPClient
import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Secrets
import Testing

/// Vault (a real OpenBao dev server) as the agent uses it: a run whose PostgreSQL user is a dynamic credential,
/// revoked when the run ends; Kubernetes auth through the fake API server's TokenReview; the configuration.
@Suite("Vault through the agent", .serialized)
struct VaultAgentTests {
    @Test func aRunExtractsAsADynamicDatabaseUserThatIsGoneWhenTheRunEndsAndItsPasswordIsInNothingWritten()
        async throws
    {
        let postgres = try TestPostgres()
        let bao = try await TestOpenBao.shared()
        let mount = try await bao.databaseEngine(postgres)
        let login = try await AppRoleLogin(bao: bao, readable: "\(mount)/creds/readonly")
        let role = login.role
        let issued = try IssuedUsers(postgres)

        try await withControlPlane { controlPlane in
            let setup = try Self.agent(controlPlane, bao: bao, auth: login.auth)
            // The URL's user (who does not exist) is replaced by the credential's.
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "vault-pg", sourceKind: "postgresql",
                    sourceURL: "postgres://nobody@127.0.0.1:\(postgres.port)/postgres",
                    secrets: [
                        "username": "vault:\(mount)/creds/readonly#username",
                        "password": "vault:\(mount)/creds/readonly#password",
                    ]))
            let run = try await controlPlane.runNow(connection.id)
            var environment = ProcessInfo.processInfo.environment
            environment["PGPASSWORD"] = nil
            environment["PGUSER"] = nil
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            let log = try await controlPlane.log(run.id)
            #expect(log.contains("job.secret_resolved"), "\(log)")

            // One credential was issued for the run, and it is gone now.
            let users = try issued.sinceThen()
            #expect(users.count == 1, "one read for username and password: \(users.count) users issued")
            let password = try #require(users.first?.password)
            try issued.expectAllRevoked()

            // The canaries: the dynamic password and the AppRole secret id.
            #expect(!log.contains(password))
            #expect(!log.contains(role.secretId))
            for file in try SecretCanaryTests.files(under: controlPlane.directory.path)
                + SecretCanaryTests.files(under: setup.directory.path)
            {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                #expect(bytes.range(of: Data(password.utf8)) == nil, "the dynamic password is in \(file)")
                #expect(bytes.range(of: Data(role.secretId.utf8)) == nil, "the secret id is in \(file)")
            }
        }
    }

    @Test func aFailedRunRevokesItsDynamicUserToo() async throws {
        let postgres = try TestPostgres()
        let bao = try await TestOpenBao.shared()
        let mount = try await bao.databaseEngine(postgres)
        let credentials = try TemporaryDirectory()
        let tokenFile = credentials.path + "/token"
        try Data(bao.rootToken.utf8).write(to: URL(fileURLWithPath: tokenFile))
        let issued = try IssuedUsers(postgres)
        try await withControlPlane { controlPlane in
            let setup = try Self.agent(controlPlane, bao: bao, auth: "{method: token, tokenFile: \(tokenFile)}")
            // The credential is issued, then the connection fails: the database does not exist.
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "vault-pg-failing", sourceKind: "postgresql",
                    sourceURL: "postgres://nobody@127.0.0.1:\(postgres.port)/no_such_database",
                    secrets: [
                        "username": "vault:\(mount)/creds/readonly#username",
                        "password": "vault:\(mount)/creds/readonly#password",
                    ]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .failed, "\(finished.error ?? "")")
            }
            let log = try await controlPlane.log(run.id)
            #expect(log.contains("no_such_database"), "\(log)")
            #expect(!log.contains(bao.rootToken))
        }
        #expect(try issued.sinceThen().count == 1)
        try issued.expectAllRevoked()
    }

    @Test func aCancelledRunRevokesItsDynamicUserWhileItsQueryIsStillBlocked() async throws {
        let postgres = try TestPostgres()
        let bao = try await TestOpenBao.shared()
        let mount = try await bao.databaseEngine(postgres)
        let database = try postgres.createDatabase(
            prefix: "vault_cancel", loading: "CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t;")
        defer { postgres.dropDatabase(database) }
        // Another session holds the view locked: the extraction's view definition query waits for it.
        let locker = Process()
        let input = Pipe()
        locker.executableURL = URL(fileURLWithPath: try #require(ChildProcess.which("psql")))
        locker.arguments = [
            "-X", "-q", "-h", postgres.host, "-p", String(postgres.port), "-U", postgres.user, "-d", database,
        ]
        var lockerEnvironment = ProcessInfo.processInfo.environment
        lockerEnvironment["PGPASSWORD"] = postgres.password
        locker.environment = lockerEnvironment
        locker.standardInput = input
        locker.standardOutput = FileHandle.nullDevice
        try locker.run()
        defer {
            try? input.fileHandleForWriting.close()
            locker.waitUntilExit()
        }
        input.fileHandleForWriting.write(Data("BEGIN;\nLOCK TABLE v IN ACCESS EXCLUSIVE MODE;\n".utf8))
        try await Self.waitUntil("the view is locked") {
            try postgres.psql(
                "SELECT count(*) FROM pg_locks WHERE relation = 'v'::regclass AND granted;", database: database
            ).trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }

        let credentials = try TemporaryDirectory()
        let tokenFile = credentials.path + "/token"
        try Data(bao.rootToken.utf8).write(to: URL(fileURLWithPath: tokenFile))
        let issued = try IssuedUsers(postgres)
        try await withControlPlane { controlPlane in
            let setup = try Self.agent(controlPlane, bao: bao, auth: "{method: token, tokenFile: \(tokenFile)}")
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "vault-pg-cancelled", sourceKind: "postgresql",
                    sourceURL: "postgres://nobody@127.0.0.1:\(postgres.port)/\(database)",
                    secrets: [
                        "username": "vault:\(mount)/creds/readonly#username",
                        "password": "vault:\(mount)/creds/readonly#password",
                    ]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { _ in
                var user = ""
                try await Self.waitUntil("the job's query waits for the lock") {
                    guard let issuedUser = try issued.sinceThen().first?.name else { return false }
                    user = issuedUser
                    return try postgres.psql(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = '\(user)' AND wait_event_type = 'Lock';"
                    ).trimmingCharacters(in: .whitespacesAndNewlines) == "1"
                }
                try await controlPlane.cancel(run.id)
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .cancelled)
                try issued.expectAllRevoked()
            }
        }
    }

    /// Polls `condition` every 50 ms for up to 30 s.
    static func waitUntil(_ what: String, _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func aJobReachesAVaultServedOverTLSThroughTheConfiguredCABundleAndOnlyThrough() async throws {
        let bao = try TestOpenBao.withTLS()
        let caFile = try #require(bao.caFile)
        try bao.cli(["kv", "put", "-mount=secret", "outpost/sqlite", "password=tls-pw"])
        let credentials = try TemporaryDirectory()
        let tokenFile = credentials.path + "/token"
        try Data(bao.rootToken.utf8).write(to: URL(fileURLWithPath: tokenFile))
        for trusted in [true, false] {
            try await withControlPlane { controlPlane in
                let setup = try AgentSetup(
                    controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                    extra: """
                        secretStores:
                          vault:
                            address: \(bao.address)
                            \(trusted ? "caBundle: \(caFile)" : "")
                            auth:
                              method: token
                              tokenFile: \(tokenFile)
                        """)
                // A SQLite source ignores the password: resolving it is what the run proves.
                let connection = try await controlPlane.createConnection(
                    ConnectionRequest(
                        name: "vault-tls", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
                        secrets: ["password": "vault:secret/outpost/sqlite#password"]))
                let run = try await controlPlane.runNow(connection.id)
                try await withAgent(setup) { _ in
                    let finished = try await controlPlane.finished(run.id)
                    if trusted {
                        #expect(finished.status == .succeeded, "\(finished.error ?? "")")
                    } else {
                        #expect(finished.status == .failed)
                        #expect(finished.error?.contains("cannot reach Vault") == true, "\(finished.error ?? "")")
                    }
                }
            }
        }
    }

    @Test func agentCheckLogsInToVaultAndReachesASourceAsADynamicUserItRevokesAfterwards() async throws {
        let postgres = try TestPostgres()
        let bao = try await TestOpenBao.shared()
        let mount = try await bao.databaseEngine(postgres)
        let login = try await AppRoleLogin(bao: bao, readable: "\(mount)/creds/readonly")
        let role = login.role
        let issued = try IssuedUsers(postgres)
        try await withControlPlane { controlPlane in
            let setup = try Self.agent(controlPlane, bao: bao, auth: login.auth)
            let result = try AgentCheckTests.check(
                setup,
                [
                    "--source", "postgres://nobody@127.0.0.1:\(postgres.port)/postgres",
                    "--secret", "username=vault:\(mount)/creds/readonly#username",
                    "--secret", "password=vault:\(mount)/creds/readonly#password",
                ])
            #expect(result.status == 0, "\(result.lines) \(result.standardError)")
            #expect(
                result.lines.contains { $0.hasPrefix("ok   vault: \(bao.address): approle login accepted") },
                "\(result.lines)")
            #expect(result.lines.contains { $0.hasPrefix("ok   source postgres://") }, "\(result.lines)")
            #expect(!result.lines.joined().contains(role.secretId))
        }
        #expect(try issued.sinceThen().count == 1, "one credential for the username and the password")
        try issued.expectAllRevoked()
    }

    @Test func aVaultAddressOutsideThePolicyIsRefusedBeforeAnythingIsRead() async throws {
        let bao = try await TestOpenBao.shared()
        let credentials = try TemporaryDirectory()
        let tokenFile = credentials.path + "/token"
        try Data(bao.rootToken.utf8).write(to: URL(fileURLWithPath: tokenFile))
        try await withControlPlane { controlPlane in
            // No allowedHosts: the job may reach no host but its source.
            let setup = try AgentSetup(
                controlPlane: controlPlane,
                extra: """
                    secretStores:
                      vault:
                        address: \(bao.address)
                        auth:
                          method: token
                          tokenFile: \(tokenFile)
                    """)
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "vault-denied", sourceKind: "sqlite", sourceURL: sampleDatabaseURL,
                    secrets: ["password": "vault:secret/data/outpost/pg#password"]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status != .succeeded)
                #expect(finished.error?.contains("127.0.0.1") == true, "\(finished.error ?? "")")
            }
        }
    }

    @Test func kubernetesAuthLogsInWithTheServiceAccountTokenThatTheAPIServerVouchesFor() async throws {
        let bao = try await TestOpenBao.shared()
        let reviewer = "reviewer-" + UUID().uuidString
        let fake = try await FakeKubernetesAPI(token: reviewer)
        do {
            try await Self.logInWithKubernetes(bao, fake, reviewer: reviewer)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    private static func logInWithKubernetes(
        _ bao: TestOpenBao, _ fake: FakeKubernetesAPI, reviewer: String
    ) async throws {
        let uid = UUID().uuidString.lowercased()
        let known = Self.serviceAccountJWT(namespace: "outpost", name: "agent", uid: uid)
        fake.addServiceAccountToken(known, namespace: "outpost", name: "agent", uid: uid)
        let unknown = Self.serviceAccountJWT(namespace: "outpost", name: "agent", uid: uid)

        let path = TestOpenBao.unique("outpost/kube")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "kube-pw"}}"#)
        let mount = TestOpenBao.unique("kubernetes")
        try await bao.must(.post, "sys/auth/\(mount)", #"{"type": "kubernetes"}"#)
        try await bao.must(
            .post, "auth/\(mount)/config",
            TestOpenBao.jsonObject([
                "kubernetes_host": fake.url, "kubernetes_ca_cert": try Self.anyCertificate(),
                "token_reviewer_jwt": reviewer, "disable_local_ca_jwt": "true",
            ]))
        try await bao.must(
            .put, "sys/policies/acl/\(mount)",
            TestOpenBao.jsonObject(["policy": #"path "secret/data/\#(path)" { capabilities = ["read"] }"#]))
        try await bao.must(
            .post, "auth/\(mount)/role/outpost-agent",
            #"{"bound_service_account_names": ["agent"], "bound_service_account_namespaces": ["outpost"], "#
                + #""token_policies": ["\#(mount)"], "token_ttl": "10m"}"#)

        let directory = try TemporaryDirectory()
        let jwtFile = directory.path + "/token"
        try Data(known.utf8).write(to: URL(fileURLWithPath: jwtFile))
        let provider = VaultSecretProvider(
            configuration: VaultConfiguration(
                address: bao.address, authentication: .kubernetes(mount: mount, role: "outpost-agent", jwtFile: jwtFile)
            ),
            client: .shared, credentials: { _ in "" }, readsOncePerLocator: false)
        let resolver = SecretResolver(providers: [provider])
        #expect(try await resolver.resolve(SecretReference(parsing: "vault:secret/\(path)#password")) == "kube-pw")
        #expect(await provider.statistics.logins == 1)
        #expect(
            fake.requests.contains {
                $0.method == "POST" && $0.path == "/apis/authentication.k8s.io/v1/tokenreviews" && $0.status == 201
            })

        // A token the API server does not know: Bao's login is refused, and the message holds no token.
        try Data(unknown.utf8).write(to: URL(fileURLWithPath: jwtFile))
        let refused = VaultSecretProvider(
            configuration: provider.configuration, client: .shared, credentials: { _ in "" }, readsOncePerLocator: false
        )
        let error = await #expect(throws: SecretError.self) {
            try await SecretResolver(providers: [refused]).resolve(
                SecretReference(parsing: "vault:secret/\(path)#password"))
        }
        #expect(error?.message.contains("Kubernetes") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("HTTP 403") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(unknown) == false)
    }

    @Test func theVaultSectionIsReadStrictlyAndTakesOnlyReferencesForAppRoleCredentials() throws {
        let base = """
            controlPlane:
              url: https://outpost.example.com
              apiKey: env:OUTPOST_API_KEY

            """
        let parsed = try AgentConfiguration.parse(
            base + """
                secretStores:
                  vault:
                    address: https://vault.example.com:8200
                    namespace: team-a
                    auth:
                      method: approle
                      roleId: file:/var/run/secrets/vault/role-id
                      secretId: env:VAULT_SECRET_ID
                """, file: "agent.yaml", environment: [:])
        #expect(
            parsed.secretStores.vault
                == VaultConfiguration(
                    address: "https://vault.example.com:8200", namespace: "team-a",
                    authentication: .appRole(
                        mount: "approle",
                        roleId: SecretReference(store: .file, locator: "/var/run/secrets/vault/role-id"),
                        secretId: SecretReference(store: .env, locator: "VAULT_SECRET_ID"))))

        let kubernetes = try AgentConfiguration.parse(
            base + """
                secretStores:
                  vault:
                    address: https://vault.example.com
                    auth: {method: kubernetes, role: outpost-agent}
                """, file: "agent.yaml", environment: [:])
        #expect(
            kubernetes.secretStores.vault?.authentication
                == .kubernetes(
                    mount: "kubernetes", role: "outpost-agent",
                    jwtFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"))

        let refusals = [
            ("auth: {method: approle, roleId: file:/r, secretId: s3cr3t-value}", "secret reference"),
            ("auth: {method: token, tokenFile: /t, role: x}", "role"),
            ("auth: {method: ldap}", "token, approle or kubernetes"),
            ("auth: {method: approle, roleId: file:/r, secretId: vault:secret/data/x#id}", "another store"),
        ]
        for (auth, expected) in refusals {
            let error = #expect(throws: AgentError.self) {
                try AgentConfiguration.parse(
                    base + "secretStores:\n  vault:\n    address: https://vault.example.com\n    \(auth)\n",
                    file: "agent.yaml", environment: [:])
            }
            #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
            #expect(error?.description.contains("s3cr3t-value") == false)
        }
        let plain = #expect(throws: AgentError.self) {
            try AgentConfiguration.parse(
                base
                    + "secretStores:\n  vault:\n    address: http://vault.example.com\n    auth: {method: kubernetes, role: r}\n",
                file: "agent.yaml", environment: [:])
        }
        #expect(plain?.description.contains("https://") == true)
    }

    /// A service account token as Kubernetes projects it, each one different: unsigned here, as Bao checks it through
    /// TokenReview.
    static func serviceAccountJWT(namespace: String, name: String, uid: String) -> String {
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let claims = """
            {"iss": "kubernetes/serviceaccount", "jti": "\(UUID().uuidString)", "sub": "system:serviceaccount:\(namespace):\(name)", \
            "kubernetes.io/serviceaccount/namespace": "\(namespace)", \
            "kubernetes.io/serviceaccount/service-account.name": "\(name)", \
            "kubernetes.io/serviceaccount/service-account.uid": "\(uid)", \
            "kubernetes.io": {"namespace": "\(namespace)", "serviceaccount": {"name": "\(name)", "uid": "\(uid)"}}}
            """
        return encode(#"{"alg": "RS256", "typ": "JWT"}"#) + "." + encode(claims) + "." + encode("not-verified")
    }

    /// A PEM certificate, which Bao's Kubernetes auth config requires for the API server it will not dial over TLS.
    static func anyCertificate() throws -> String {
        let openssl = try #require(ChildProcess.which("openssl"), "the openssl CLI is needed to make a certificate")
        let directory = try TemporaryDirectory()
        let result = try ChildProcess.run(
            openssl,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                directory.path + "/key.pem", "-out", directory.path + "/cert.pem", "-days", "1", "-subj", "/CN=fake",
            ])
        guard result.status == 0 else { throw TestFailure("openssl failed: \(result.standardError)") }
        return try String(contentsOfFile: directory.path + "/cert.pem", encoding: .utf8)
    }
}

extension VaultAgentTests {
    /// An agent allowed to reach the test Vault on loopback, logging in with `auth` (YAML flow mapping or block).
    static func agent(_ controlPlane: TestControlPlane, bao: TestOpenBao, auth: String) throws -> AgentSetup {
        try AgentSetup(
            controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
            extra: """
                secretStores:
                  vault:
                    address: \(bao.address)
                    auth: \(auth)
                """)
    }

    /// An AppRole that may read one path (and revoke its leases), its role id and secret id in files.
    struct AppRoleLogin {
        let role: (mount: String, roleId: String, secretId: String)
        let directory: TemporaryDirectory
        /// The agent's `auth` mapping for it.
        var auth: String {
            "{method: approle, mount: \(role.mount), roleId: \"file:\(directory.path)/role-id\", "
                + "secretId: \"file:\(directory.path)/secret-id\"}"
        }

        init(bao: TestOpenBao, readable path: String) async throws {
            role = try await bao.appRole(
                policy: """
                    path "\(path)" { capabilities = ["read"] }
                    path "sys/leases/revoke" { capabilities = ["update"] }
                    """)
            directory = try TemporaryDirectory()
            try Data(role.roleId.utf8).write(to: URL(fileURLWithPath: directory.path + "/role-id"))
            try Data(role.secretId.utf8).write(to: URL(fileURLWithPath: directory.path + "/secret-id"))
        }
    }

    /// The PostgreSQL users Bao's database engine issued from now on (it records each in `vault_issued`).
    struct IssuedUsers {
        let postgres: TestPostgres
        let before: String

        init(_ postgres: TestPostgres) throws {
            self.postgres = postgres
            before = try postgres.psql("SELECT count(*) FROM vault_issued;").trimmingCharacters(
                in: .whitespacesAndNewlines)
        }

        func sinceThen() throws -> [(name: String, password: String)] {
            try postgres.psql("SELECT name || ' ' || password FROM vault_issued ORDER BY ctid OFFSET \(before);")
                .split(separator: "\n").map { line in
                    let parts = line.split(separator: " ").map(String.init)
                    return (parts[0], parts.count > 1 ? parts[1] : "")
                }
        }

        /// Every user issued since then is gone from `pg_roles`: its lease was revoked.
        func expectAllRevoked(sourceLocation: SourceLocation = #_sourceLocation) throws {
            for user in try sinceThen() {
                let remaining = try postgres.psql("SELECT count(*) FROM pg_roles WHERE rolname = '\(user.name)';")
                #expect(
                    remaining.trimmingCharacters(in: .whitespacesAndNewlines) == "0",
                    "the lease of \(user.name) was revoked", sourceLocation: sourceLocation)
            }
        }
    }
}
