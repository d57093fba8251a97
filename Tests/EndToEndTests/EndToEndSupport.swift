// What the end-to-end tests share: a fresh PostgreSQL source database with its own login role, agents
// configured against a server, and catalog comparisons over the admin API.

import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

/// A fresh database on the test PostgreSQL server with a small `sales` schema and a reader role whose password
/// only the agent's secret store knows. Dropped (database and role) when released.
final class SourceDatabase: Sendable {
    let postgres: TestPostgres
    let name: String
    let role: String
    let password: String

    /// - Parameter password: the reader's password; a random one when nil.
    init(password: String? = nil) throws {
        postgres = try TestPostgres()
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
        role = "e2e_reader_\(suffix)"
        self.password = password ?? "pw" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        try postgres.psql("CREATE ROLE \(role) LOGIN PASSWORD '\(self.password)';")
        name = try postgres.createDatabase(
            prefix: "e2e_src",
            loading: """
                CREATE SCHEMA sales;
                CREATE TABLE sales.customers (
                    id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text);
                CREATE TABLE sales.orders (
                    id bigint PRIMARY KEY,
                    customer_id bigint NOT NULL REFERENCES sales.customers (id),
                    total numeric(12, 2),
                    placed_at timestamptz DEFAULT now());
                CREATE INDEX orders_by_customer ON sales.orders (customer_id);
                CREATE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE total > 100;
                COMMENT ON TABLE sales.orders IS 'one row per order';
                GRANT USAGE ON SCHEMA sales TO \(role);
                GRANT SELECT ON ALL TABLES IN SCHEMA sales TO \(role);
                """)
    }

    /// The source URL a connection names: no password, which the agent resolves itself.
    var url: String { "postgres://\(role)@127.0.0.1:\(postgres.port)/\(name)" }

    /// A connection to this database, only its `sales` schema.
    func connection(
        name: String, password reference: String, delivery: DeliverySettings? = nil
    ) -> ConnectionRequest {
        ConnectionRequest(
            name: name, sourceKind: "postgresql", sourceURL: url, secrets: ["password": reference],
            filters: ConnectionFilters(includeSchemas: ["sales"]), delivery: delivery)
    }

    deinit {
        postgres.dropDatabase(name)
        _ = try? postgres.psql("DROP ROLE IF EXISTS \(role);")
    }
}

/// A fresh, empty database on the test PostgreSQL server for a control plane's storage. Dropped when released.
final class ControlPlaneDatabase: Sendable {
    let postgres: TestPostgres
    let name: String

    init() throws {
        postgres = try TestPostgres()
        name = try postgres.createDatabase(prefix: "e2e_cp", loading: "SELECT 1;")
    }

    /// The URL for `OUTPOST_DATABASE_URL`, with the password (so it stays out of the process list).
    var url: String {
        var components = postgres.url
        components.path = "/" + name
        return components.string ?? ""
    }

    /// A schema and data dump of the whole database, as `pg_dump` writes it.
    func dump() throws -> String {
        guard let pgDump = ChildProcess.which("pg_dump") else {
            throw EndToEndFailure("pg_dump is not installed (apt-get install postgresql-client)")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = postgres.password
        let result = try ChildProcess.run(
            pgDump,
            ["-h", postgres.host, "-p", String(postgres.port), "-U", postgres.user, "-d", name, "--no-owner"],
            environment: environment)
        guard result.status == 0 else { throw EndToEndFailure("pg_dump failed: \(result.standardError)") }
        return result.standardOutput
    }

    deinit {
        postgres.dropDatabase(name)
    }
}

/// An agent's key file, data dir and configuration, pointed at a server; started as `outpost agent`.
struct AgentSetup {
    let directory: TemporaryDirectory
    var yaml: String

    /// An agent of `server`.
    init(
        server: ServerProcess, key: String, name: String = "e2e-agent", secretCommands: [String: String] = [:],
        concurrency: Int = 2, allowedSources: [String] = ["postgres://127.0.0.1:*/*"]
    ) throws {
        try self.init(
            controlPlane: server.url, key: key, name: name, secretCommands: secretCommands, concurrency: concurrency,
            allowedSources: allowedSources)
    }

    /// - Parameters:
    ///   - controlPlane: the URL the agent reaches the control plane at: a server, or a load balancer in front of
    ///     several.
    ///   - key: the agent API key, kept in a file the configuration references.
    ///   - secretCommands: `command:NAME` secret stores: name → shell command whose stdout is the secret.
    ///   - concurrency: runs at once; an agent with a free slot keeps a claim open.
    ///   - allowedSources: the local policy's source patterns (PostgreSQL on loopback by default).
    init(
        controlPlane: String, key: String, name: String = "e2e-agent", secretCommands: [String: String] = [:],
        concurrency: Int = 2, allowedSources: [String] = ["postgres://127.0.0.1:*/*"]
    ) throws {
        directory = try TemporaryDirectory()
        let keyFile = directory.path + "/api-key"
        try Data(key.utf8).write(to: URL(fileURLWithPath: keyFile))
        var commands = ""
        if !secretCommands.isEmpty {
            commands = "secretStores:\n  commands:\n"
            for (store, command) in secretCommands.sorted(by: { $0.key < $1.key }) {
                commands += """
                        \(store):
                          path: /bin/sh
                          args: ["-c", \(Self.quoted(command))]
                          timeout: 120s

                    """
            }
        }
        yaml = """
            controlPlane:
              url: \(controlPlane)
              apiKey: file:\(keyFile)
              keyRetryInterval: 200ms
            agent:
              name: \(name)
              concurrency: \(concurrency)
              dataDir: \(directory.path)/data
              heartbeatInterval: 1s
              drainTimeout: 20s
              fenceMargin: 2s
            policy:
              allowedSources: [\(allowedSources.map(Self.quoted).joined(separator: ", "))]
              allowedHosts: ["127.0.0.1"]
              allowedSecrets: ["env:*", "file:/tmp/**", "command:*", "aws-sm:**", "k8s:**", "vault:**", "gcp-sm:**", "azure-kv:**"]
              unverifiedSources: ["postgres://127.0.0.1:*/*"]
            jobs:
              killGrace: 2s
            \(commands)
            """
    }

    var dataDirectory: String { directory.path + "/data" }

    /// Writes the configuration and starts `outpost agent --config …`; stderr goes to `LABEL.log` in the directory.
    func start(
        label: String = "agent", environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws -> AgentProcess
    {
        let path = directory.path + "/agent.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return try AgentProcess(
            configPath: path, environment: environment, logPath: directory.path + "/\(label).log")
    }

    /// A YAML double-quoted string.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// Catalog checks over the admin API.
enum Catalog {
    /// `kind qualifiedName` of every asset with the connection's own name (the first part of every qualified
    /// name) replaced by `<connection>`, sorted: equal for two connections that extracted the same source.
    static func normalized(_ assets: [CatalogAssetSummary], connectionName: String) -> [String] {
        assets.map { asset in
            "\(asset.kind) \(strip(asset.qualifiedName, connectionName)) \(asset.name) "
                + strip(asset.parent ?? "-", connectionName)
        }.sorted()
    }

    /// `text` with the connection's name taken out where it starts a qualified name, plain or percent-encoded
    /// (as inside a lineage edge's name).
    static func strip(_ text: String, _ connectionName: String) -> String {
        let plain =
            text.hasPrefix(connectionName + "/") ? "<connection>" + text.dropFirst(connectionName.count) : text
        return plain.replacingOccurrences(of: "\"\(connectionName)/", with: "\"<connection>/")
            .replacingOccurrences(of: "/\(connectionName)%2F", with: "/<connection>%2F")
    }

    /// A catalog asset's record and children as JSON with the connection's name taken out of qualified names and
    /// without the connection and run ids: equal for two connections that extracted the same source.
    static func comparable(_ asset: CatalogAssetResponse, _ connectionName: String) throws -> String {
        var copy = asset
        copy.asset.connectionId = ""
        copy.asset.runId = ""
        copy.children = copy.children?.map { child in
            var child = child
            child.connectionId = ""
            child.runId = ""
            return child
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return strip(String(decoding: try encoder.encode(copy), as: UTF8.self), connectionName)
    }

    /// The asset keys (`kind qualifiedName`) that appear more than once.
    static func duplicates(_ assets: [CatalogAssetSummary]) -> [String] {
        Dictionary(grouping: assets, by: { "\($0.kind) \($0.qualifiedName)" }).filter { $0.value.count > 1 }
            .map(\.key)
    }

    /// Checks that the `sales` schema of `SourceDatabase` is there, each asset once; returns what is wrong.
    static func problems(_ assets: [CatalogAssetSummary]) -> [String] {
        var problems = duplicates(assets).map { "duplicate \($0)" }
        let names = Set(assets.map { "\($0.kind) \($0.name)" })
        for expected in [
            "schema sales", "table customers", "table orders", "view big_orders", "column customer_id",
            "column email", "column placed_at",
        ] where !names.contains(expected) {
            problems.append("missing \(expected)")
        }
        return problems
    }
}

/// `job.*` events of a run log, in order: the first word of a line that starts with `job.` and is not a
/// `key=value` metadata field.
func jobEvents(_ log: String) -> [String] {
    log.split(separator: "\n").compactMap { line in
        line.split(separator: " ").first { $0.hasPrefix("job.") && !$0.contains("=") }.map(String.init)
    }
}

/// The regular files under `root`, recursively.
func files(under root: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: root)
    var files: [String] = []
    while let relative = enumerator?.nextObject() as? String {
        var directory: ObjCBool = false
        let path = root + "/" + relative
        if FileManager.default.fileExists(atPath: path, isDirectory: &directory), !directory.boolValue {
            files.append(path)
        }
    }
    return files
}

/// The environment of the test process with `extra` on top.
func environment(_ extra: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.merging(extra) { $1 }
}

/// Runs each connection once through `agent` (each must succeed and publish a catalog), then stops the agent
/// (SIGTERM, a clean exit) and the server.
func runEachThenStop(
    _ connections: [ConnectionResponse], admin: AdminClient, agent: AgentProcess, server: ServerProcess,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    for connection in connections {
        let run = try await admin.runNow(connection.id)
        let finished = try await admin.finished(run.id)
        #expect(
            finished.status == .succeeded, "\(finished.error ?? "") \(agent.log) \(server.log)",
            sourceLocation: sourceLocation)
        #expect(!(try await admin.catalog(connectionId: connection.id)).isEmpty, sourceLocation: sourceLocation)
    }
    agent.signal(SIGTERM)
    #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)", sourceLocation: sourceLocation)
    try await server.stop()
}
