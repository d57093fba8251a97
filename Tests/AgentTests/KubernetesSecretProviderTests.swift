// `k8s:NAMESPACE/NAME#key` references against the FAKE Kubernetes API server (no cluster runs here): it answers
// secret GETs as the real API server does, including the 403 a Role with `resourceNames` gives any other name.

import Agent
import Foundation
import NIOSSL
import OutpostProtocol
import OutpostTesting
import Secrets
import Testing

@Suite("Kubernetes Secrets through the API server", .serialized)
struct KubernetesSecretProviderTests {
    static let token = "fake-sa-token-0b9d"

    /// A fake with one readable Secret `db/pg` and one Secret `db/other` the service account may not read.
    static func withFake(
        tls: TLSConfiguration? = nil, _ body: (FakeKubernetesAPI) async throws -> Void
    ) async throws {
        let fake = try await FakeKubernetesAPI(token: token, tls: tls)
        fake.putSecret(
            namespace: "db", name: "pg", ["password": Array("pg-pass-1\n".utf8), "username": Array("reader".utf8)])
        fake.putSecret(namespace: "db", name: "single", ["token": Array("only-value".utf8)])
        fake.putSecret(namespace: "db", name: "binary", ["blob": [0xFF, 0xFE, 0x00]])
        fake.putSecret(namespace: "db", name: "other", ["password": Array("not-for-you".utf8)])
        fake.allowSecrets(["db/pg", "db/single", "db/binary", "db/missing"])
        do {
            try await body(fake)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    /// A kubeconfig naming the fake, with a token and optionally the CA as `certificate-authority-data`.
    static func kubeconfig(server: String, token: String, caPEM: Data? = nil, in directory: String) throws -> String {
        let path = directory + "/kubeconfig"
        let authority = caPEM.map { "\n    certificate-authority-data: \($0.base64EncodedString())" } ?? ""
        let text = """
            apiVersion: v1
            kind: Config
            current-context: test
            contexts:
            - name: test
              context: {cluster: fake, user: agent}
            clusters:
            - name: fake
              cluster:
                server: \(server)\(authority)
            users:
            - name: agent
              user:
                token: \(token)
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A resolver reading through a kubeconfig written into `directory`, which must outlive it.
    static func resolver(
        _ fake: FakeKubernetesAPI, in directory: TemporaryDirectory, token: String = token
    ) throws -> SecretResolver {
        let path = try kubeconfig(server: fake.url, token: token, in: directory.path)
        return SecretResolver(providers: [KubernetesSecretProvider(access: .kubeconfig(path: path))])
    }

    static func failure(_ resolver: SecretResolver, _ text: String) async throws -> SecretError {
        do {
            let value = try await resolver.resolve(try SecretReference(parsing: text))
            throw TestFailure("\(text) resolved to a value of \(value.count) characters")
        } catch let error as SecretError {
            return error
        }
    }

    @Test func aNamedKeyIsReadDecodedAndWithoutItsTrailingNewline() async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let resolver = try Self.resolver(fake, in: directory)
            #expect(try await resolver.resolve(SecretReference(parsing: "k8s:db/pg#password")) == "pg-pass-1")
            #expect(try await resolver.resolve(SecretReference(parsing: "k8s:db/pg#username")) == "reader")
            #expect(fake.requests.last == .init(method: "GET", path: "/api/v1/namespaces/db/secrets/pg", status: 200))
        }
    }

    @Test func withoutAKeyASingleKeySecretGivesItsValueAndOtherwiseTheErrorNamesTheKeysOnly() async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let resolver = try Self.resolver(fake, in: directory)
            #expect(try await resolver.resolve(SecretReference(parsing: "k8s:db/single")) == "only-value")
            let error = try await Self.failure(resolver, "k8s:db/pg")
            #expect(error.code == .invalidReference)
            #expect(error.message.contains("password, username") && error.message.contains("k8s:db/pg#password"))
            #expect(!error.message.contains("pg-pass-1") && !error.message.contains("reader\""))
        }
    }

    @Test func aMissingKeyANonUTF8ValueA404AndA403SayWhatIsWrongAndWhatToGrant() async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let resolver = try Self.resolver(fake, in: directory)
            let missingKey = try await Self.failure(resolver, "k8s:db/pg#pasword")
            #expect(missingKey.code == .notFound)
            #expect(
                missingKey.message.contains("no key 'pasword'") && missingKey.message.contains("password, username"))
            let binary = try await Self.failure(resolver, "k8s:db/binary#blob")
            #expect(binary.code == .invalidFormat && binary.message.contains("not UTF-8"))
            let missing = try await Self.failure(resolver, "k8s:db/missing#password")
            #expect(missing.code == .notFound && missing.message.contains("no Secret missing in namespace db"))
            let forbidden = try await Self.failure(resolver, "k8s:db/other#password")
            #expect(forbidden.message.contains("HTTP 403"), "\(forbidden)")
            #expect(forbidden.message.contains("User \"system:serviceaccount:outpost:outpost-agent\" cannot get"))
            #expect(forbidden.message.contains("`get` on secrets with resourceNames [other] in namespace db"))
            #expect(!forbidden.message.contains("not-for-you"))
        }
    }

    @Test func aRefusedTokenIsA401ThatNamesTheReferenceButNotTheToken() async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let resolver = try Self.resolver(fake, in: directory, token: "stale-token-77")
            let error = try await Self.failure(resolver, "k8s:db/pg#password")
            #expect(error.message.contains("HTTP 401") && error.message.contains("k8s:db/pg#password"), "\(error)")
            #expect(!error.message.contains("stale-token-77"))
        }
    }

    @Test(arguments: ["k8s:DB/pg#password", "k8s:db/pg/x", "k8s:db/-pg", "k8s:pg", "k8s:db/pg#bad key", "k8s:db/pg_1"])
    func anInvalidNamespaceNameOrKeyIsRefusedBeforeAnyRequest(_ text: String) async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let resolver = try Self.resolver(fake, in: directory)
            let error = try await Self.failure(resolver, text)
            #expect(error.code == .invalidReference, "\(error)")
            #expect(fake.requests.isEmpty)
        }
    }

    @Test func anAPIServerTheEgressCheckRefusesIsNeverAsked() async throws {
        try await Self.withFake { fake in
            let directory = try TemporaryDirectory()
            let path = try Self.kubeconfig(server: fake.url, token: Self.token, in: directory.path)
            let provider = KubernetesSecretProvider(
                access: .kubeconfig(path: path),
                serverCheck: { throw SecretError(.unreadable, "the policy refuses \($0)") })
            let error = try await Self.failure(SecretResolver(providers: [provider]), "k8s:db/pg#password")
            #expect(error.message.contains("the policy refuses \(fake.url)"))
            #expect(fake.requests.isEmpty)
        }
    }

    @Test func overTLSTheClusterCAOfAKubeconfigOrOfTheServiceAccountIsTrusted() async throws {
        let certificates = try TestCertificates()
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.serverCertificate).map {
                .certificate($0)
            },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.serverKey, format: .pem)))
        try await Self.withFake(tls: tls) { fake in
            #expect(fake.url.hasPrefix("https://"))
            let authority = try Data(contentsOf: URL(fileURLWithPath: certificates.authority))
            let directory = try TemporaryDirectory()
            let path = try Self.kubeconfig(
                server: fake.url, token: Self.token, caPEM: authority, in: directory.path)
            let fromKubeconfig = SecretResolver(providers: [KubernetesSecretProvider(access: .kubeconfig(path: path))])
            #expect(try await fromKubeconfig.resolve(SecretReference(parsing: "k8s:db/pg#password")) == "pg-pass-1")

            // The pod's service account: CA and token files in its directory, the API server from the environment.
            let account = try TemporaryDirectory()
            try authority.write(to: URL(fileURLWithPath: account.path + "/ca.crt"))
            try Data((Self.token + "\n").utf8).write(to: URL(fileURLWithPath: account.path + "/token"))
            let access = KubernetesAccess.configured(
                kubeconfig: nil,
                environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(fake.port)"],
                directory: account.path)
            #expect(access == .inCluster(host: "127.0.0.1", port: "\(fake.port)", directory: account.path))
            let inCluster = SecretResolver(providers: [KubernetesSecretProvider(access: access)])
            #expect(try await inCluster.resolve(SecretReference(parsing: "k8s:db/single")) == "only-value")
        }
    }
}

/// A source password from a Kubernetes Secret through the agent. In the agent-runs suite, which is serialized,
/// because its tests count the test process's job processes.
extension AgentRunTests {
    @Test func aPasswordFromAKubernetesSecretExtractsThroughTheAgentAndIsInNothingItWroteOrSent() async throws {
        let postgres = try TestPostgres()
        let password = postgres.password
        try #require(!password.isEmpty, "the test server needs a password for this test to mean anything")
        let fake = try await FakeKubernetesAPI(token: KubernetesSecretProviderTests.token)
        fake.putSecret(
            namespace: "sources", name: "pg", ["password": Array((password + "\n").utf8), "user": Array("app".utf8)])
        fake.allowSecrets(["sources/pg"])
        do {
            try await withControlPlane { controlPlane in
                let files = try TemporaryDirectory()
                let kubeconfig = try KubernetesSecretProviderTests.kubeconfig(
                    server: fake.url, token: KubernetesSecretProviderTests.token, in: files.path)
                let setup = try AgentSetup(
                    controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]",
                    extra: "secretStores:\n  kubernetes:\n    kubeconfig: \(kubeconfig)")
                let (finished, log) = try await controlPlane.runPostgres(
                    named: "k8s-pg", url: postgres.url(database: "postgres"), password: "k8s:sources/pg#password",
                    setup: setup)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
                #expect(log.contains("job.secret_resolved") && log.contains("k8s:sources/pg#password"), "\(log)")
                #expect(!log.contains(password))
                #expect(
                    fake.requests.contains(
                        .init(method: "GET", path: "/api/v1/namespaces/sources/secrets/pg", status: 200)))
                try SecretCanaryTests.expectNowhere(
                    password, under: [controlPlane.directory.path, setup.directory.path])
            }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    @Test func aJobDoesNotAskAKubernetesAPIServerOutsideTheLocalPolicy() async throws {
        let fake = try await FakeKubernetesAPI(token: KubernetesSecretProviderTests.token)
        fake.putSecret(namespace: "sources", name: "pg", ["password": Array("unused".utf8)])
        do {
            try await withControlPlane { controlPlane in
                let files = try TemporaryDirectory()
                let kubeconfig = try KubernetesSecretProviderTests.kubeconfig(
                    server: fake.url, token: KubernetesSecretProviderTests.token, in: files.path)
                // No allowedHosts: the API server on 127.0.0.1 is not a host jobs may reach.
                let setup = try AgentSetup(
                    controlPlane: controlPlane, extra: "secretStores:\n  kubernetes:\n    kubeconfig: \(kubeconfig)")
                let connection = try await controlPlane.createConnection(
                    ConnectionRequest(
                        name: "k8s-denied", sourceKind: "postgresql", sourceURL: "postgres://app@127.0.0.1:9/postgres",
                        secrets: ["password": "k8s:sources/pg#password"]))
                let run = try await controlPlane.runNow(connection.id)
                try await withAgent(setup) { _ in
                    let finished = try await controlPlane.finished(run.id)
                    #expect(finished.status == .failed)
                    #expect(
                        finished.error?.contains("local policy refuses host 127.0.0.1") == true,
                        "\(finished.error ?? "")")
                }
                #expect(fake.requests.isEmpty)
            }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }
}
