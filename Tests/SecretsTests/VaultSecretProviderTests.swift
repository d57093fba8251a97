import AsyncHTTPClient
import Foundation
import OutpostTesting
import Secrets
import Testing

/// `vault:` references against a real OpenBao dev server (Vault's API): KV version 2, AppRole, token files, token
/// renewal and re-login, namespaces, and a database secrets engine issuing real PostgreSQL users.
@Suite("Vault secret store, against a real OpenBao server", .serialized)
struct VaultSecretProviderTests {
    /// A provider for `bao`, logging in with `authentication`; AppRole credentials come from files and the environment.
    static func provider(
        _ bao: TestOpenBao, _ authentication: VaultConfiguration.Authentication, namespace: String? = nil,
        readsOncePerLocator: Bool = true
    ) -> VaultSecretProvider {
        let credentials = SecretResolver.standard
        return VaultSecretProvider(
            configuration: VaultConfiguration(
                address: bao.address, namespace: namespace, authentication: authentication),
            client: .shared, credentials: { try await credentials.resolve($0) },
            readsOncePerLocator: readsOncePerLocator, retryDelay: .milliseconds(20))
    }

    /// A file holding `text`, in `directory`.
    static func file(_ directory: TemporaryDirectory, _ name: String, _ text: String) throws -> String {
        let path = directory.path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func resolve(_ provider: VaultSecretProvider, _ text: String) async throws -> String {
        try await SecretResolver(providers: [provider]).resolve(SecretReference(parsing: text))
    }

    @Test func kvSecretsAreReadInVersion2AtTheLatestOrANamedVersionInBothPathFormsAndInVersion1AsTheyAre() async throws
    {
        let bao = try await TestOpenBao.shared()
        let path = TestOpenBao.unique("outpost/pg")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "first-pw", "user": "reader"}}"#)
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "second-pw", "user": "reader"}}"#)
        try await bao.must(.post, "secret/data/\(path)-single", #"{"data": {"token": "only-value"}}"#)
        let directory = try TemporaryDirectory()
        let tokenFile = try Self.file(directory, "token", bao.rootToken + "\n")
        let vault = Self.provider(bao, .tokenFile(path: tokenFile))

        #expect(try await Self.resolve(vault, "vault:secret/data/\(path)#password") == "second-pw")
        #expect(try await Self.resolve(vault, "vault:secret/\(path)#password") == "second-pw")
        #expect(try await Self.resolve(vault, "vault:secret/data/\(path)?version=1#password") == "first-pw")
        #expect(try await Self.resolve(vault, "vault:secret/\(path)?version=1#user") == "reader")
        #expect(try await Self.resolve(vault, "vault:secret/\(path)-single") == "only-value")

        let several = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:secret/\(path)")
        }
        #expect(several?.message.contains("password, user") == true, "\(several?.message ?? "")")
        #expect(several?.message.contains("second-pw") == false)
        let missing = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:secret/data/\(path)-absent#password")
        }
        #expect(missing?.code == .notFound, "\(missing?.message ?? "")")
        #expect(missing?.message.contains(bao.rootToken) == false)
        let badVersion = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:secret/\(path)?revision=1#password")
        }
        #expect(badVersion?.code == .invalidReference)

        // KV version 1: the fields are the data itself, and there are no versions.
        let mount = TestOpenBao.unique("kv1")
        try await bao.must(.post, "sys/mounts/\(mount)", #"{"type": "kv", "options": {"version": "1"}}"#)
        try await bao.must(.post, "\(mount)/outpost/pg", #"{"password": "v1-pw"}"#)
        #expect(try await Self.resolve(vault, "vault:\(mount)/outpost/pg#password") == "v1-pw")
        let versioned = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:\(mount)/outpost/pg?version=1#password")
        }
        #expect(versioned?.code == .invalidReference, "\(versioned?.message ?? "")")
    }

    @Test func aWrongTokenIsRefusedWithAMessageThatNamesTheReferenceButNotTheToken() async throws {
        let bao = try await TestOpenBao.shared()
        let directory = try TemporaryDirectory()
        let wrong = "wrong-token-" + UUID().uuidString
        let vault = Self.provider(bao, .tokenFile(path: try Self.file(directory, "token", wrong)))
        let error = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:secret/data/outpost/anything#password")
        }
        #expect(error?.message.contains("HTTP 403") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("vault:secret/data/outpost/anything#password") == true)
        #expect(error?.message.contains(wrong) == false)
    }

    @Test func aRewrittenTokenFileIsReadAgain() async throws {
        let bao = try await TestOpenBao.shared()
        let path = TestOpenBao.unique("outpost/rotated")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "pw"}}"#)
        let directory = try TemporaryDirectory()
        let tokenFile = try Self.file(directory, "token", "stale-token")
        let vault = Self.provider(bao, .tokenFile(path: tokenFile), readsOncePerLocator: false)
        await #expect(throws: SecretError.self) { try await Self.resolve(vault, "vault:secret/\(path)#password") }
        _ = try Self.file(directory, "token", bao.rootToken)
        #expect(try await Self.resolve(vault, "vault:secret/\(path)#password") == "pw")
    }

    @Test func anAppRoleLogsInWithItsRoleIdAndSecretIdFromOtherStores() async throws {
        let bao = try await TestOpenBao.shared()
        let path = TestOpenBao.unique("outpost/approle")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "approle-pw"}}"#)
        let role = try await bao.appRole(policy: #"path "secret/data/\#(path)" { capabilities = ["read"] }"#)
        let directory = try TemporaryDirectory()
        let roleId = try Self.file(directory, "role-id", role.roleId)
        let secretId = try Self.file(directory, "secret-id", role.secretId)
        let vault = Self.provider(
            bao,
            .appRole(
                mount: role.mount, roleId: SecretReference(store: .file, locator: roleId),
                secretId: SecretReference(store: .file, locator: secretId)))
        // The vault-kv form needs the mount lookup, which a token with only this read allowed may make.
        #expect(try await Self.resolve(vault, "vault:secret/\(path)#password") == "approle-pw")
        #expect(try await Self.resolve(vault, "vault:secret/data/\(path)#password") == "approle-pw")
        #expect(await vault.statistics.logins == 1)
        #expect(await vault.statistics.reads == 1, "each path is read once")

        let denied = await #expect(throws: SecretError.self) {
            try await Self.resolve(vault, "vault:secret/data/outpost/not-allowed#password")
        }
        #expect(denied?.message.contains("HTTP 403") == true, "\(denied?.message ?? "")")

        let wrongSecret = "wrong-secret-id-" + UUID().uuidString
        let refused = Self.provider(
            bao,
            .appRole(
                mount: role.mount, roleId: SecretReference(store: .file, locator: roleId),
                secretId: SecretReference(store: .file, locator: try Self.file(directory, "wrong", wrongSecret))))
        let error = await #expect(throws: SecretError.self) {
            try await Self.resolve(refused, "vault:secret/data/\(path)#password")
        }
        #expect(error?.message.contains("AppRole login") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(wrongSecret) == false)
        #expect(error?.message.contains(role.roleId) == false)
    }

    @Test func aShortLivedTokenIsRenewedBeforeItExpiresAndARevokedOneLogsInAgain() async throws {
        let bao = try await TestOpenBao.shared()
        let path = TestOpenBao.unique("outpost/renewed")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "renewed-pw"}}"#)
        let role = try await bao.appRole(
            policy: #"path "secret/data/\#(path)" { capabilities = ["read"] }"#, tokenTTL: "3s", tokenMaxTTL: "1m")
        let directory = try TemporaryDirectory()
        let vault = Self.provider(
            bao,
            .appRole(
                mount: role.mount,
                roleId: SecretReference(store: .file, locator: try Self.file(directory, "role-id", role.roleId)),
                secretId: SecretReference(
                    store: .file, locator: try Self.file(directory, "secret-id", role.secretId))),
            readsOncePerLocator: false)
        let reference = "vault:secret/data/\(path)#password"
        #expect(try await Self.resolve(vault, reference) == "renewed-pw")
        // Past the token's first TTL: it lives on only because it was renewed.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await vault.maintainLeases() }
            try? await Task.sleep(for: .milliseconds(4_500))
            group.cancelAll()
        }
        #expect(await vault.statistics.tokenRenewals >= 1)
        #expect(try await Self.resolve(vault, reference) == "renewed-pw")
        #expect(await vault.statistics.logins == 1)

        // Revoked behind the provider's back: the next read gets 403, logs in again and succeeds.
        try await bao.must(.put, "sys/leases/revoke-prefix/auth/\(role.mount)/login", "{}")
        #expect(try await Self.resolve(vault, reference) == "renewed-pw")
        #expect(await vault.statistics.logins == 2)
    }

    @Test func aTokenFilesShortLivedTokenIsRenewedToo() async throws {
        let bao = try await TestOpenBao.shared()
        let path = TestOpenBao.unique("outpost/file-token")
        try await bao.must(.post, "secret/data/\(path)", #"{"data": {"password": "file-pw"}}"#)
        try await bao.must(
            .put, "sys/policies/acl/\(path.replacingOccurrences(of: "/", with: "-"))",
            TestOpenBao.jsonObject(["policy": #"path "secret/data/\#(path)" { capabilities = ["read"] }"#]))
        let created = try await bao.must(
            .post, "auth/token/create",
            #"{"ttl": "3s", "explicit_max_ttl": "1m", "renewable": true, "policies": ["\#(path.replacingOccurrences(of: "/", with: "-"))"]}"#
        )
        let token = try #require(created.string("auth", "client_token"))
        let directory = try TemporaryDirectory()
        let vault = Self.provider(
            bao, .tokenFile(path: try Self.file(directory, "token", token)), readsOncePerLocator: false)
        let reference = "vault:secret/data/\(path)#password"
        #expect(try await Self.resolve(vault, reference) == "file-pw")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await vault.maintainLeases() }
            try? await Task.sleep(for: .milliseconds(4_500))
            group.cancelAll()
        }
        #expect(await vault.statistics.tokenRenewals >= 1)
        #expect(try await Self.resolve(vault, reference) == "file-pw")
    }

    @Test func aNamespaceIsSentWithEveryRequest() async throws {
        let bao = try await TestOpenBao.shared()
        let namespace = TestOpenBao.unique("team")
        try await bao.must(.post, "sys/namespaces/\(namespace)", "{}")
        try await bao.must(
            .post, "sys/mounts/kv", #"{"type": "kv", "options": {"version": "2"}}"#, namespace: namespace)
        try await bao.must(
            .post, "kv/data/outpost/pg", #"{"data": {"password": "namespaced-pw"}}"#, namespace: namespace)
        let directory = try TemporaryDirectory()
        let tokenFile = try Self.file(directory, "token", bao.rootToken)
        let inside = Self.provider(bao, .tokenFile(path: tokenFile), namespace: namespace)
        #expect(try await Self.resolve(inside, "vault:kv/outpost/pg#password") == "namespaced-pw")
        let outside = Self.provider(bao, .tokenFile(path: tokenFile))
        await #expect(throws: SecretError.self) { try await Self.resolve(outside, "vault:kv/data/outpost/pg#password") }
    }

    @Test func aDatabaseCredentialIsOneLeaseRenewedWhileKeptAndGoneFromPostgreSQLOnceRevoked() async throws {
        let postgres = try TestPostgres()
        let bao = try await TestOpenBao.shared()
        let mount = try await bao.databaseEngine(postgres, defaultTTL: "4s")
        let directory = try TemporaryDirectory()
        let vault = Self.provider(bao, .tokenFile(path: try Self.file(directory, "token", bao.rootToken)))
        let resolver = SecretResolver(providers: [vault])
        let username = try await resolver.resolve(SecretReference(parsing: "vault:\(mount)/creds/readonly#username"))
        let password = try await resolver.resolve(SecretReference(parsing: "vault:\(mount)/creds/readonly#password"))
        #expect(await vault.statistics.reads == 1, "username and password come from one credential")
        #expect(try postgres.psql("SELECT current_user;", user: username, password: password).contains(username))

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await resolver.maintainLeases() }
            try? await Task.sleep(for: .milliseconds(5_000))
            group.cancelAll()
        }
        #expect(await vault.statistics.leaseRenewals >= 1)
        // Past the lease's first TTL: still a working login.
        #expect(try postgres.psql("SELECT 1;", user: username, password: password).contains("1"))

        await resolver.revokeLeases()
        #expect(await vault.statistics.leasesRevoked == 1)
        let count = try postgres.psql("SELECT count(*) FROM pg_roles WHERE rolname = '\(username)';")
        #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
