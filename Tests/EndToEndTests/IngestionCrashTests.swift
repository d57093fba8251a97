import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `outpost server` killed with SIGKILL while it ingests a delivery, then started again on the same data:
/// the run must not wait out a long lease, and the catalog must come out exactly as a one-shot extraction of the
/// source.
@Suite("End to end: a control plane killed while it ingests", .serialized)
struct IngestionCrashTests {
    /// The benchmark generator's "small" catalog (20 schemas, about 25,000 records): large enough that its ingestion
    /// is caught in progress, small enough for CI; the code paths are those of any size.
    static let schemas = 20

    @Test func aServerKilledMidIngestionFinishesTheRunWithinTwoMinutesOfItsRestartOnSQLiteAndPostgreSQL()
        async throws
    {
        let postgres = try TestPostgres()
        let source = try GeneratedCatalog.build(postgres, schemas: Self.schemas)
        defer { postgres.dropDatabase(source) }
        let passwordFile = try TemporaryDirectory()
        try Data(postgres.password.utf8).write(to: URL(fileURLWithPath: passwordFile.path + "/pw"))

        // The reference: what a one-shot extraction of the source publishes, record for record.
        let expected = try Self.extractedRecords(postgres, source, passwordFile: passwordFile.path + "/pw")
        #expect(expected.count > 20_000)

        let database = try ControlPlaneDatabase()
        for backend in ["sqlite", "postgresql"] {
            var environment = ProcessInfo.processInfo.environment
            if backend == "postgresql" { environment["OUTPOST_DATABASE_URL"] = database.url }
            let server = try ServerProcess(environment: environment)
            try await server.start()
            let admin = try server.admin
            let (connection, setup) = try await Self.connectLargeCatalog(
                server, postgres.url(database: source), passwordFile: passwordFile.path + "/pw",
                agentName: "agent-\(backend)")
            let agent = try setup.start()

            let run = try await admin.runNow(connection.id)
            try await Self.kill(server, whileIngesting: run.id, within: .seconds(300), agent: agent, backend)

            try await server.start()
            let restarted = ContinuousClock.now
            let finished = try await admin.finished(run.id, within: .seconds(120))
            #expect(finished.status == .succeeded, "\(backend): \(finished.error ?? "") \(server.log)")
            #expect(ContinuousClock.now - restarted < .seconds(120), "\(backend)")
            let published =
                backend == "sqlite"
                ? try Self.records(inSQLiteStore: server.dataDirectory + "/outpost.sqlite", connectionId: connection.id)
                : try Self.records(inPostgresStore: database, connectionId: connection.id)
            Self.expectSame(published, expected, backend)

            // The pool runs before the first query (postgres-nio used to warn at every start on PostgreSQL).
            #expect(!server.log.contains("hasn't been called yet"), "\(backend)")

            agent.signal(SIGTERM)
            _ = await agent.waitForExit(within: .seconds(30))
            try await server.stop()
        }
    }

    @Test func anIngestionRecoveredAfterANewerRunPublishedIsSupersededAndTheCatalogKeepsTheNewerSnapshot()
        async throws
    {
        // PostgreSQL: a restarted replica takes the interrupted ingestion over only once its lease ran out (about a
        // minute), which leaves time for a newer run to publish first. (A sole SQLite server recovers at start.)
        let postgres = try TestPostgres()
        let source = try GeneratedCatalog.build(postgres, schemas: 3)
        defer { postgres.dropDatabase(source) }
        let passwordFile = try TemporaryDirectory()
        try Data(postgres.password.utf8).write(to: URL(fileURLWithPath: passwordFile.path + "/pw"))
        let database = try ControlPlaneDatabase()
        var environment = ProcessInfo.processInfo.environment
        environment["OUTPOST_DATABASE_URL"] = database.url
        let server = try ServerProcess(environment: environment)
        try await server.start()
        let admin = try server.admin
        let (connection, setup) = try await Self.connectLargeCatalog(
            server, postgres.url(database: source), passwordFile: passwordFile.path + "/pw", agentName: "agent")
        let agent = try setup.start()

        let first = try await admin.finished(try await admin.runNow(connection.id).id, within: .seconds(120))
        #expect(first.status == .succeeded, "\(first.error ?? "")")
        // The second run's delivery is being ingested when the server is killed.
        let interrupted = try await admin.runNow(connection.id)
        try await Self.kill(server, whileIngesting: interrupted.id, within: .seconds(120), agent: agent, "postgresql")
        try await server.start()

        // The source changes, and a newer run publishes while the interrupted one waits for its lease to run out.
        let table = try postgres.psql(
            """
            SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
            WHERE table_schema = 's0000' AND table_type = 'BASE TABLE' ORDER BY table_name LIMIT 1;
            """, database: source
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        try postgres.psql("DROP TABLE \(table) CASCADE; VACUUM ANALYZE;", database: source)
        let newer = try await admin.finished(try await admin.runNow(connection.id).id, within: .seconds(55))
        #expect(newer.status == .succeeded, "\(newer.error ?? "")")
        #expect(try await admin.run(interrupted.id).status == .ingesting)

        // Recovered later, the older delivery is not published over the newer one.
        let recovered = try await admin.finished(interrupted.id, within: .seconds(120))
        #expect(recovered.status == .superseded, "\(recovered.error ?? "")")
        Self.expectSame(
            try Self.records(inPostgresStore: database, connectionId: connection.id),
            try Self.extractedRecords(postgres, source, passwordFile: passwordFile.path + "/pw"), "postgresql")

        agent.signal(SIGTERM)
        _ = await agent.waitForExit(within: .seconds(30))
        try await server.stop()
    }

    /// Waits until the run is `ingesting` (the agent delivered, the server verifies and publishes), then kills the
    /// server with SIGKILL.
    /// The large catalog's connection on `server`, and the setup of an agent that reads its password through a
    /// secret command (keep the setup alive as long as the agent runs).
    static func connectLargeCatalog(
        _ server: ServerProcess, _ sourceURL: String, passwordFile: String, agentName: String
    ) async throws -> (ConnectionResponse, AgentSetup) {
        let admin = try server.admin
        let connection = try await admin.createConnection(
            ConnectionRequest(
                name: "big", sourceKind: "postgresql", sourceURL: sourceURL, secrets: ["password": "command:pw"]))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: agentName, role: .agent),
            secretCommands: ["pw": "cat \(passwordFile)"])
        return (connection, setup)
    }

    static func kill(
        _ server: ServerProcess, whileIngesting runId: String, within limit: Duration, agent: AgentProcess,
        _ backend: String
    ) async throws {
        let admin = try server.admin
        let deadline = ContinuousClock.now + limit
        var status = RunRecord.Status.queued
        while status != .ingesting, ContinuousClock.now < deadline {
            status = try await admin.run(runId).status
            try #require(!status.isFinished, "\(backend): the run finished before it could be caught ingesting")
            if status != .ingesting { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(status == .ingesting, "\(backend): \(agent.log)")
        try await server.stop(signal: SIGKILL)
    }

    /// The records of a one-shot `outpost extract` of the source, as `big`, in `records(inExtraction:)`'s form.
    static func extractedRecords(_ postgres: TestPostgres, _ source: String, passwordFile: String) throws -> [String] {
        let reference = try TemporaryDirectory()
        let extract = try ChildProcess.run(
            BuildProducts.outpost,
            [
                "extract", "--source", postgres.url(database: source), "--connection-name", "big",
                "--password-file", passwordFile, "--output", reference.path + "/out",
            ])
        try #require(extract.status == 0, "\(extract.standardError)")
        return try records(inExtraction: reference.path + "/out")
    }

    /// Compares two record lists, naming a few differences rather than printing tens of thousands of lines.
    static func expectSame(
        _ published: [String], _ expected: [String], _ backend: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let missing = Set(expected).subtracting(published).sorted()
        let extra = Set(published).subtracting(expected).sorted()
        #expect(
            published.count == expected.count && missing.isEmpty && extra.isEmpty,
            """
            \(backend): the catalog (\(published.count) records) differs from a one-shot extraction \
            (\(expected.count)): missing \(missing.count), e.g. \(missing.prefix(3)); extra \(extra.count), \
            e.g. \(extra.prefix(3))
            """, sourceLocation: sourceLocation)
    }

    /// `kind<TAB>qualifiedName<TAB>SHA-256 of the JSON line` of every record in an extraction folder, sorted.
    static func records(inExtraction folder: String) throws -> [String] {
        try python(
            """
            import gzip, hashlib, json, os, sys
            out = []
            for root, _, names in os.walk(sys.argv[1]):
                for name in names:
                    if not name.endswith('.jsonl.gz'):
                        continue
                    with gzip.open(os.path.join(root, name), 'rb') as f:
                        for line in f:
                            line = line.rstrip(b'\\n')
                            if line:
                                r = json.loads(line)
                                digest = hashlib.sha256(line).hexdigest()
                                out.append('%s\\t%s\\t%s' % (r['kind'], r['qualifiedName'], digest))
            print('\\n'.join(sorted(out)))
            """, folder)
    }

    /// The same lines for a connection's published catalog in a SQLite store.
    static func records(inSQLiteStore path: String, connectionId: String) throws -> [String] {
        try python(
            """
            import hashlib, sqlite3, sys
            db = sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True)
            rows = db.execute(
                'SELECT kind, qualified_name, body FROM catalog_assets WHERE connection_id = ?', (sys.argv[2],))
            lines = ('%s\\t%s\\t%s' % (k, q, hashlib.sha256(b).hexdigest()) for k, q, b in rows)
            print('\\n'.join(sorted(lines)))
            """, path, connectionId)
    }

    /// The same lines for a connection's published catalog in a PostgreSQL store.
    static func records(inPostgresStore database: ControlPlaneDatabase, connectionId: String) throws -> [String] {
        let output = try database.postgres.psql(
            """
            SELECT kind || E'\\t' || qualified_name || E'\\t' || encode(sha256(body), 'hex')
            FROM catalog_assets WHERE connection_id = '\(connectionId)';
            """, database: database.name)
        return output.split(separator: "\n").map(String.init).sorted()
    }

    private static func python(_ script: String, _ arguments: String...) throws -> [String] {
        let result = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script] + arguments)
        guard result.status == 0 else { throw EndToEndFailure("python3 failed: \(result.standardError)") }
        return result.standardOutput.split(separator: "\n").map(String.init)
    }
}

/// A synthetic catalog built with the shared benchmark generator.
enum GeneratedCatalog {
    /// Loads `gen_catalog.py --schemas N --seed 42` into a fresh database; returns its name.
    static func build(_ postgres: TestPostgres, schemas: Int) throws -> String {
        let generator = BuildProducts.repositoryRoot + "/../shared/bench/gen_catalog.py"
        guard FileManager.default.fileExists(atPath: generator) else {
            throw EndToEndFailure("\(generator) is missing: ../shared must sit beside the clone")
        }
        let sql = try ChildProcess.run(
            "/usr/bin/env", ["python3", generator, "--schemas", String(schemas), "--seed", "42"])
        guard sql.status == 0 else { throw EndToEndFailure("gen_catalog.py failed: \(sql.standardError)") }
        let database = try postgres.createDatabase(prefix: "e2e_big", loading: sql.standardOutput)
        // Statistics are part of the records (row estimates, sizes): settle them now, so autovacuum's analyze does
        // not change them between a reference extraction and the run compared with it.
        try postgres.psql("VACUUM ANALYZE;", database: database)
        return database
    }
}
