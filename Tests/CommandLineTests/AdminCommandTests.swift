// `outpost admin` as a user runs it: the real binary as a child process against a live control plane served
// in-process on a loopback port (SQLite store, hand-moved clock).

import ControlPlane
import ControlPlaneStorage
import Foundation
import HummingbirdTesting
import Logging
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("outpost admin")
struct AdminCommandTests {
    /// A live server with tenant A's admin key in a file; `body` gets the environment that points `outpost admin`
    /// at it.
    static func withServer(
        _ body:
            @Sendable (_ environment: [String: String], _ store: SQLiteControlPlaneStore, _ keyFile: String)
            async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        let now = Timestamp(milliseconds: 1_735_689_600_000)
        let tenant = Tenant(id: Identifier.make("ten"), name: "a", createdAt: now)
        try await store.createTenant(tenant)
        let admin = APIKey.mint(tenantId: tenant.id, name: "admin", role: .admin, expiresAt: nil, now: now)
        try await store.createKey(admin.key)
        let keyFile = directory.path + "/admin.key"
        try Data((admin.text + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
        let blobs = try LocalBlobStore(
            root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
        let signer = UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key"))
        var logger = Logger(label: "outpost.test.admin-cli")
        logger.logLevel = .error
        let app = buildApplication(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), store: store, blobs: blobs,
            signer: signer, logger: logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(["OUTPOST_SERVER": "http://127.0.0.1:\(port)"], store, keyFile)
        }
        try await store.close()
    }

    /// Runs `outpost admin …` on its own thread, so the in-process server keeps the cooperative threads.
    static func admin(_ arguments: [String], environment: [String: String]) async throws -> ProcessResult {
        var clean = environment
        clean["OUTPOST_ADMIN_KEY"] = clean["OUTPOST_ADMIN_KEY"] ?? ""
        let fullEnvironment = clean
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result { try OutpostCLI.run(["admin"] + arguments, environment: fullEnvironment) })
            }.start()
        }
    }

    @Test("keys, connections, runs, logs and agents round-trip through the real binary")
    func roundTrip() async throws {
        try await Self.withServer { environment, store, keyFile in
            func run(_ arguments: [String]) async throws -> ProcessResult {
                let result = try await Self.admin(arguments + ["--key-file", keyFile], environment: environment)
                #expect(result.status == 0, "outpost admin \(arguments): \(result.standardError)")
                return result
            }
            let adminKey = try String(contentsOfFile: keyFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)

            // Keys: the new key alone on stdout, once.
            let created = try await run(["keys", "create", "--role", "agent", "--name", "ci", "--expires-in", "90d"])
            let agentKey = created.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(agentKey.hasPrefix("opk_") && !agentKey.contains("\n"))
            #expect(created.standardError.contains("cannot be shown again"))
            #expect(created.standardError.contains("expires 2"))
            let keys = try await run(["keys", "list", "--json"])
            let listed = try JSONDecoder().decode(KeyList.self, from: Data(keys.standardOutput.utf8)).keys
            let ciKey = try #require(listed.first { $0.name == "ci" })
            #expect(ciKey.role == .agent && ciKey.expiresAt != nil)
            let table = try await run(["keys", "list"])
            #expect(table.standardOutput.hasPrefix("ID"))
            #expect(table.standardOutput.contains(ciKey.id))
            #expect(!table.standardOutput.contains(agentKey) && !table.standardOutput.contains(adminKey))

            // Connections from flags and from a file.
            let connection = try await run([
                "connections", "create", "--name", "sales", "--source-kind", "postgresql", "--source-url",
                "postgres://reader@db.internal:5432/sales", "--secret", "password=env:SALES_PASSWORD", "--schedule",
                "@daily", "--include-schema", "public",
            ])
            #expect(connection.standardOutput.hasPrefix("created connection con_"))
            let directory = try TemporaryDirectory()
            let file = directory.path + "/warehouse.json"
            try JSONEncoder().encode(
                ConnectionRequest(name: "warehouse", sourceKind: "sqlite", sourceURL: "sqlite:/data/warehouse.db")
            ).write(to: URL(fileURLWithPath: file))
            _ = try await run(["connections", "create", "--from-file", file])
            let connections = try await run(["connections", "list"])
            #expect(connections.standardOutput.contains("sales") && connections.standardOutput.contains("warehouse"))
            #expect(connections.standardOutput.contains("@daily"))
            _ = try await run(["connections", "update", "sales", "--pool", "edge", "--schedule", "none"])
            let shown = try JSONDecoder().decode(
                ConnectionResponse.self,
                from: Data(try await run(["connections", "show", "sales", "--json"]).standardOutput.utf8))
            #expect(shown.pool == "edge" && shown.schedule == nil && shown.nextRunAt == nil)
            #expect(shown.secrets == ["password": "env:SALES_PASSWORD"] && shown.filters.includeSchemas == ["public"])
            let human = try await run(["connections", "show", shown.id])
            #expect(human.standardOutput.contains("source URL:"))

            // Runs: run now, list, show, logs, cancel.
            let queued = try await run(["run-now", "sales"])
            let runId = try #require(
                queued.standardOutput.split(separator: " ").first { $0.hasPrefix("run_") }.map(String.init))
            // Runs are listed with their connection's name, not its id.
            let runsListed = try await run(["runs", "list", "--connection", "sales"]).standardOutput
            let row = runsListed.split(separator: "\n").first { $0.contains(runId) } ?? ""
            #expect(row.contains(" sales ") && !row.contains("con_"), "\(runsListed)")
            let shownRun = try await run(["runs", "show", runId]).standardOutput
            #expect(shownRun.contains("queued"))
            #expect(shownRun.contains("sales (con_"), "\(shownRun)")
            let queuedRun = try #require(try await Self.tenantRun(store, runId: runId))
            let line = String(repeating: "log line with ünïcode\n", count: 20_000)
            var offset: Int64 = 0
            for chunk in Array(line.utf8).chunked(into: 100_000) {
                offset = try await store.appendLog(
                    tenantId: queuedRun.tenantId, runId: runId, offset: offset, text: chunk)
            }
            let logs = try await run(["runs", "logs", runId])
            #expect(logs.standardOutput == line)
            let cancelled = try await run(["runs", "cancel", runId, "--reason", "maintenance"])
            #expect(cancelled.standardOutput == "cancelled run \(runId)\n")

            // Agents as seen through heartbeats.
            try await store.upsertAgent(
                AgentRecord(
                    tenantId: queuedRun.tenantId, id: "edge-1", name: "edge one", version: "0.1.0", state: "idle",
                    freeSlots: 2, runningLeases: 0, lastSeenAt: Timestamp(milliseconds: 1_735_689_600_000)))
            #expect(try await run(["agents", "list"]).standardOutput.contains("edge-1"))

            _ = try await run(["connections", "delete", "warehouse"])
            #expect(!(try await run(["connections", "list"]).standardOutput.contains("warehouse")))
            #expect(try await run(["keys", "revoke", ciKey.id]).standardOutput == "revoked key \(ciKey.id)\n")
        }
    }

    /// The run with `runId` in any tenant (the test has one).
    static func tenantRun(_ store: SQLiteControlPlaneStore, runId: String) async throws -> RunRecord? {
        guard let tenant = try await store.firstTenant() else { return nil }
        return try await store.run(tenantId: tenant.id, id: runId)
    }

    @Test("failures name the cause: 404 with the server's message, 401, 400, unreachable, missing settings")
    func failures() async throws {
        try await Self.withServer { environment, _, keyFile in
            let key = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)

            let missing = try await Self.admin(
                ["runs", "show", "run_nope", "--key-file", keyFile], environment: environment)
            #expect(missing.status == 1)
            #expect(missing.standardError == "outpost: error: not found (404): no run run_nope\n")

            var wrongKey = environment
            wrongKey["OUTPOST_ADMIN_KEY"] = "opk_" + String(repeating: "x", count: 43)
            let refused = try await Self.admin(["keys", "list"], environment: wrongKey)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("refused the key (401"))
            #expect(!refused.standardError.contains(wrongKey["OUTPOST_ADMIN_KEY"]!))

            let invalid = try await Self.admin(
                [
                    "connections", "create", "--name", "x", "--source-kind", "postgresql", "--source-url",
                    "postgres://db/x", "--schedule", "0 0 30 2 *", "--key-file", keyFile,
                ], environment: environment)
            #expect(invalid.status == 1)
            #expect(invalid.standardError.contains("can never fire"), "\(invalid.standardError)")
            #expect(invalid.standardError.hasSuffix("(field schedule)\n"))

            let unreachable = try await Self.admin(
                ["agents", "list", "--server", "http://127.0.0.1:1", "--key-file", keyFile], environment: [:])
            #expect(unreachable.status == 1)
            #expect(
                unreachable.standardError.contains(
                    "cannot reach the server at http://127.0.0.1:1 (connection refused);"),
                "\(unreachable.standardError)")
            #expect(!unreachable.standardError.contains(key))

            let noKey = try await Self.admin(["agents", "list"], environment: environment)
            #expect(noKey.status == 64)
            #expect(noKey.standardError.contains("no admin key"))
            let noServer = try await Self.admin(
                ["agents", "list", "--key-file", keyFile], environment: ["OUTPOST_SERVER": ""])
            #expect(noServer.status == 64)
            #expect(noServer.standardError.contains("no server"))
            let badRole = try await Self.admin(
                ["keys", "create", "--role", "root", "--key-file", keyFile], environment: environment)
            #expect(badRole.status == 64)
            let badExpiry = try await Self.admin(
                ["keys", "create", "--role", "agent", "--expires-in", "soon", "--key-file", keyFile],
                environment: environment)
            #expect(badExpiry.status == 64)
            #expect(badExpiry.standardError.contains("--expires-in 'soon'"))
        }
    }
}

/// `outpost admin` against an https server, and `outpost server`'s TLS options.
@Suite("outpost admin over TLS")
struct AdminTLSTests {
    @Test("--ca-file trusts a self-signed server; without it the certificate is refused")
    func trustsTheGivenCA() async throws {
        let directory = try TemporaryDirectory()
        let certificate = directory.path + "/server.pem"
        let key = directory.path + "/server-key.pem"
        let openssl = try #require(ChildProcess.which("openssl"), "the openssl CLI is needed to make a certificate")
        let made = try ChildProcess.run(
            openssl,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.standardError)")

        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        let now = Timestamp(milliseconds: 1_735_689_600_000)
        let tenant = Tenant(id: Identifier.make("ten"), name: "a", createdAt: now)
        try await store.createTenant(tenant)
        let admin = APIKey.mint(tenantId: tenant.id, name: "admin", role: .admin, expiresAt: nil, now: now)
        try await store.createKey(admin.key)
        let keyFile = directory.path + "/admin.key"
        try Data(admin.text.utf8).write(to: URL(fileURLWithPath: keyFile))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tls = try ServerTLS(certificateFile: certificate, keyFile: key)
        var logger = Logger(label: "outpost.test.admin-tls")
        logger.logLevel = .error
        let app = buildApplication(
            configuration: configuration, store: store,
            blobs: try LocalBlobStore(
                root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key")),
            signer: UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: directory.path + "/signing.key")),
            logger: logger)
        try await app.test(.live) { client in
            let server = "https://127.0.0.1:\(try #require(client.port))"
            let trusted = try await AdminCommandTests.admin(
                ["agents", "list", "--server", server, "--key-file", keyFile, "--ca-file", certificate],
                environment: [:])
            #expect(trusted.status == 0, "\(trusted.standardError)")
            #expect(trusted.standardOutput.hasPrefix("ID"))
            let untrusted = try await AdminCommandTests.admin(
                ["agents", "list", "--server", server, "--key-file", keyFile], environment: [:])
            #expect(untrusted.status == 1)
            #expect(untrusted.standardError.contains("cannot reach the server at \(server)"))
        }
        try await store.close()
    }

    @Test("outpost server refuses bad TLS, CA bundle and blob-store key options as usage errors")
    func serverTLSOptions() throws {
        let directory = try TemporaryDirectory()
        let alone = try OutpostCLI.run(["server", "--data-dir", directory.path + "/data", "--tls-cert", "/nope.pem"])
        #expect(alone.status == 64)
        #expect(alone.standardError.contains("--tls-cert needs --tls-key"))
        let missing = try OutpostCLI.run([
            "server", "--data-dir", directory.path + "/data", "--tls-cert", directory.path + "/missing.pem",
            "--tls-key", directory.path + "/missing-key.pem",
        ])
        #expect(missing.status == 64)
        #expect(missing.standardError.contains("missing.pem"))
        // The cloud CA bundle is loaded at start: a file without a certificate is named, with nothing served.
        let notPEM = directory.path + "/not-a-bundle.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: notPEM))
        for bundle in [notPEM, directory.path + "/missing-bundle.pem"] {
            let refused = try OutpostCLI.run(["server", "--data-dir", directory.path + "/data", "--ca-bundle", bundle])
            #expect(refused.status == 64)
            #expect(refused.standardError.contains("--ca-bundle '\(bundle)'"), "\(refused.standardError)")
        }

        // Blob-store keys: each for its own kind of store, and an HMAC key that is not ACCESS_ID:SECRET is refused
        // without its text in the message.
        let data = ["server", "--data-dir", directory.path + "/data"]
        let hmacAlone = try OutpostCLI.run(data + ["--blob-store-hmac-key", "env:NOPE"])
        #expect(hmacAlone.status == 64)
        #expect(hmacAlone.standardError.contains("--blob-store-hmac-key is for a gs:// blob store"))
        let keyOnS3 = try OutpostCLI.run(data + ["--blob-store", "s3://b/p", "--blob-store-account-key", "env:NOPE"])
        #expect(keyOnS3.status == 64)
        #expect(keyOnS3.standardError.contains("--blob-store-account-key is for an azure:// blob store"))
        let malformed = directory.path + "/hmac"
        try Data("secret-without-an-access-id\n".utf8).write(to: URL(fileURLWithPath: malformed))
        let badHMAC = try OutpostCLI.run(
            data + ["--blob-store", "gs://outpost-blobs/p", "--blob-store-hmac-key", "file:\(malformed)"],
            environment: ["GOOGLE_APPLICATION_CREDENTIALS": "", "GCE_METADATA_HOST": "127.0.0.1:9"])
        #expect(badHMAC.status == 64)
        #expect(badHMAC.standardError.contains("does not hold ACCESS_ID:SECRET"), "\(badHMAC.standardError)")
        #expect(!badHMAC.standardError.contains("secret-without-an-access-id"))
    }

    @Test("outpost server refuses a start window or an ingestion lease out of range as usage errors")
    func serverLeaseOptions() throws {
        let directory = try TemporaryDirectory()
        for (option, value) in [("--start-window-seconds", "1"), ("--ingestion-lease-seconds", "5")] {
            let refused = try OutpostCLI.run(["server", "--data-dir", directory.path + "/data", option, value])
            #expect(refused.status == 64)
            #expect(refused.standardError.contains(option.dropFirst(2)), "\(refused.standardError)")
        }
    }

    @Test("outpost server refuses a symlinked or group/world-writable data directory and a planted key file")
    func serverDataDirectoryIsChecked() throws {
        let directory = try TemporaryDirectory()
        let open = directory.path + "/open"
        #expect(mkdir(open, 0o777) == 0)
        chmod(open, 0o777)
        let writable = try OutpostCLI.run(["server", "--listen", "127.0.0.1:0", "--data-dir", open])
        #expect(writable.status != 0)
        #expect(writable.standardError.contains("writable by group or others"), "\(writable.standardError)")

        let real = directory.path + "/real"
        #expect(mkdir(real, 0o700) == 0)
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/link", withDestinationPath: real)
        let linked = try OutpostCLI.run(["server", "--listen", "127.0.0.1:0", "--data-dir", directory.path + "/link"])
        #expect(linked.status != 0)
        #expect(linked.standardError.contains("symbolic link"), "\(linked.standardError)")

        // A signing key planted as a link to a file the attacker knows is refused before anything is served.
        let forged = directory.path + "/forged.key"
        try Data(repeating: 1, count: 32).write(to: URL(fileURLWithPath: forged))
        try FileManager.default.createSymbolicLink(atPath: real + "/upload-signing.key", withDestinationPath: forged)
        let planted = try OutpostCLI.run(["server", "--listen", "127.0.0.1:0", "--data-dir", real])
        #expect(planted.status != 0)
        #expect(planted.standardError.contains("upload-signing.key"), "\(planted.standardError)")
    }
}

extension Array {
    fileprivate func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
