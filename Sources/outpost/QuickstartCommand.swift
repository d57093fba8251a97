import Agent
import ArgumentParser
import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import OutpostAdmin
import OutpostProtocol
import Secrets
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `outpost quickstart`: the control plane and one agent in one process, on an embedded SQLite database and a local
/// blob folder, extracting the bundled sample database — the first thing a new user runs.
struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the control plane and an agent in one process and extract a sample database.",
        discussion: """
            Starts the control plane (SQLite and an encrypted blob folder in --data-dir), creates the admin and agent \
            keys, starts an agent against it, registers the source as a connection, runs its first extraction, and \
            prints the web UI's address and the admin key. Re-running reuses the data dir. Ctrl-C stops everything.
            Without --source it extracts Samples/shop.db from the repository. For PostgreSQL give \
            --source postgres://USER@HOST:PORT/DB and the password in PGPASSWORD (it never leaves this machine's \
            agent: the connection only names env:PGPASSWORD).
            """
    )

    @Option(name: .long, help: "Where the control plane and the agent keep their data (created, mode 0700).")
    var dataDir = "./outpost-quickstart"

    @Option(name: .long, help: "The control plane's address, HOST:PORT (loopback by default).")
    var listen = "127.0.0.1:8080"

    @Option(name: .long, help: "The source to extract: sqlite:PATH or postgres://USER@HOST:PORT/DB.")
    var source: String?

    @Option(name: .long, help: "Log level of the server and agent log lines on stderr.")
    var logLevel = "warning"

    /// The connection the quickstart registers for the bundled sample (and finds again on a re-run).
    static let connectionName = "quickstart-sample"

    /// The name of a new connection for `source`: `quickstart-sample` for the bundled sample, otherwise
    /// `quickstart-` and the database's (or file's) name, with `-2`, `-3`, … when another source has it already.
    static func connectionName(for source: String, sample: Bool, taken: Set<String>) -> String {
        if sample && !taken.contains(connectionName) { return connectionName }
        let components = URLComponents(string: source)
        let path =
            source.hasPrefix("sqlite:")
            ? String(source.dropFirst("sqlite:".count)) : (components?.path ?? "")
        var stem = URL(fileURLWithPath: path.isEmpty ? "source" : path).deletingPathExtension().lastPathComponent
        stem = String(
            stem.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }.prefix(40))
        let base =
            "quickstart-" + (stem.trimmingCharacters(in: CharacterSet(charactersIn: "-")).isEmpty ? "source" : stem)
        var name = base
        var number = 2
        while taken.contains(name) {
            name = "\(base)-\(number)"
            number += 1
        }
        return name
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "outpost.quickstart")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let environment = ProcessInfo.processInfo.environment
        let plan: Plan
        do {
            plan = try prepare(environment: environment)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.usage)
        }
        guard !Self.isListening(host: plan.host, port: plan.port) else {
            Terminal.error("\(plan.host):\(plan.port) is in use: stop what listens there or pass --listen HOST:PORT")
            throw ExitCode(ExitStatus.failure)
        }
        let store: SQLiteControlPlaneStore
        do {
            try ServerCommand.prepareDataDirectory(dataDir, logger: logger)
            store = try SQLiteControlPlaneStore(path: dataDir + "/outpost.sqlite")
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
        let cutShort: Bool
        do {
            cutShort = try await run(plan: plan, store: store, environment: environment, logger: logger)
        } catch {
            try? await store.close()
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
        try await store.close()
        // A second Ctrl-C that stopped running jobs ends as an interruption does (128 + SIGINT), not as success.
        if cutShort { throw ExitCode(130) }
    }

    /// Set once a second Ctrl-C stopped jobs that were still running.
    private final class CutShort: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.withLock { value } }
        func set() { lock.withLock { value = true } }
    }

    /// What the quickstart will run, decided before anything starts.
    struct Plan {
        var host: String
        var port: Int
        var source: String
        var sourceKind: String
        var passwordFromEnvironment: Bool
        var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }

    private func prepare(environment: [String: String]) throws -> Plan {
        let (host, port) = try ServerCommand.parseListen(listen)
        let chosen = try source ?? "sqlite:" + Self.sampleDatabase()
        let kind: String
        if chosen.hasPrefix("sqlite:") {
            kind = "sqlite"
        } else if chosen.hasPrefix("postgres://") || chosen.hasPrefix("postgresql://") {
            kind = "postgresql"
            if let components = URLComponents(string: chosen), components.password != nil {
                throw ServerCommandError(
                    usage: "--source must not carry a password: put it in PGPASSWORD, the agent reads it from there")
            }
        } else {
            throw ServerCommandError(usage: "--source must be sqlite:PATH or postgres://USER@HOST:PORT/DB")
        }
        let resolved = kind == "sqlite" ? "sqlite:" + Self.absolute(String(chosen.dropFirst("sqlite:".count))) : chosen
        return Plan(
            host: host, port: port, source: resolved, sourceKind: kind,
            passwordFromEnvironment: kind == "postgresql" && environment["PGPASSWORD"] != nil)
    }

    /// - Returns: whether a second Ctrl-C stopped jobs that were still running.
    private func run(
        plan: Plan, store: SQLiteControlPlaneStore, environment: [String: String], logger: Logger
    ) async throws -> Bool {
        let adminKeyPath = dataDir + "/admin.key"
        var serverConfiguration = ServerConfiguration(host: plan.host, port: plan.port)
        serverConfiguration.heartbeatIntervalSeconds = 10
        let controlPlane = ControlPlaneServer(
            store: store,
            blobs: try LocalBlobStore(
                root: dataDir + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: dataDir + "/blob.key")),
            signer: UploadSigner(secret: try LocalBlobStore.loadOrCreateKey(at: dataDir + "/upload-signing.key")),
            configuration: serverConfiguration, logger: logger
        ) { try ServerCommand.writeSecretFile(adminKeyPath, contents: $0 + "\n") }
        // SQLite needs no connections running: start-up happens here, so the keys exist before anything uses them.
        try await controlPlane.prepare()
        let adminKey = try Self.readSecretFile(adminKeyPath)
        let agentKeyPath = try await agentKey(store: store)

        var agentConfiguration = AgentConfiguration(
            controlPlane: .init(url: plan.url, apiKey: .init(store: .file, locator: agentKeyPath)),
            name: "quickstart-agent", dataDirectory: dataDir + "/agent")
        agentConfiguration.heartbeatInterval = .seconds(10)
        agentConfiguration.drainTimeout = .seconds(30)
        let pattern = LocalSourceApproval.exactPattern(plan.source) ?? plan.source
        agentConfiguration.policy.allowedSources = [pattern]
        if plan.passwordFromEnvironment {
            agentConfiguration.jobs.passEnvironment = ["PGPASSWORD"]
            agentConfiguration.policy.allowedSecrets = ["env:PGPASSWORD"]
        }
        let transport = Self.transport(kind: plan.sourceKind, source: plan.source)
        if transport.unverifiedTLS { agentConfiguration.policy.unverifiedSources = [pattern] }
        if transport.cleartextPassword { agentConfiguration.policy.cleartextPasswordSources = [pattern] }
        let runner = try await Agent.make(
            configuration: agentConfiguration, environment: environment, version: OutpostVersion.current,
            jobExecutable: AgentCommand.ownExecutable(), metrics: AgentMetrics(), logger: logger,
            localApprover: Self.approver(store: store))

        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let cutShort = CutShort()
        // No signals of its own: the first Ctrl-C drains the agent, and the server stops once the agent has.
        let server = controlPlane.serviceGroup(gracefulShutdownSignals: [], prepared: true)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            await withTaskGroup(of: Void.self) { work in
                work.addTask {
                    var received = 0
                    for await _ in signals {
                        received += 1
                        if received == 1 {
                            Terminal.notice(
                                "stopping: the agent finishes what it runs, then the server stops (Ctrl-C again to "
                                    + "stop running jobs now)")
                            runner.drain()
                        } else {
                            let running = runner.runningRunIds
                            if running.isEmpty {
                                Terminal.notice("stopping now")
                            } else {
                                cutShort.set()
                                Terminal.notice(
                                    "stopping now: \(running.count) running job(s) stopped, their runs end as failed "
                                        + "(\(running.joined(separator: ", ")))")
                            }
                            runner.stopNow(reason: "the quickstart was stopped with a second Ctrl-C")
                        }
                    }
                }
                work.addTask {
                    do {
                        try await firstRun(plan: plan, adminKey: adminKey, store: store)
                    } catch is CancellationError {
                    } catch {
                        Terminal.error("the first extraction did not complete: \(error)")
                    }
                }
                await runner.run()
                work.cancelAll()
            }
            await server.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        return cutShort.isSet
    }

    /// Registers the source (once) and runs it, then prints where to look.
    private func firstRun(plan: Plan, adminKey: String, store: SQLiteControlPlaneStore) async throws {
        try await Self.waitUntilServing(plan)
        let api = try AdminClient(baseURL: plan.url, key: adminKey, caFile: nil)
        do {
            try await firstRun(plan: plan, api: api, adminKey: adminKey, store: store)
        } catch {
            await api.shutdown()
            throw error
        }
        await api.shutdown()
    }

    private func firstRun(
        plan: Plan, api: AdminClient, adminKey: String, store: SQLiteControlPlaneStore
    ) async throws {
        let existing = try await api.call(.get, "/v1/admin/connections", as: ConnectionList.self).connections
        let connection: ConnectionResponse
        // A re-run finds its connection by the source, never by name: each source gets its own.
        if let found = existing.first(where: { $0.sourceKind == plan.sourceKind && $0.sourceURL == plan.source }) {
            connection = found
        } else {
            connection = try await api.call(
                .post, "/v1/admin/connections",
                body: ConnectionRequest(
                    name: Self.connectionName(
                        for: plan.source, sample: source == nil, taken: Set(existing.map(\.name))),
                    sourceKind: plan.sourceKind, sourceURL: plan.source,
                    secrets: plan.passwordFromEnvironment ? ["password": "env:PGPASSWORD"] : nil),
                as: ConnectionResponse.self)
        }
        let queued = try await api.call(.post, "/v1/admin/connections/\(connection.id)/runs", as: RunResponse.self)
        Terminal.notice("extracting \(plan.source) (run \(queued.id))…")
        var run = queued
        while !run.status.isFinished {
            try await Task.sleep(for: .milliseconds(250))
            run = try await api.call(.get, "/v1/admin/runs/\(queued.id)", as: RunResponse.self)
        }
        guard let tenant = try await store.firstTenant() else { return }
        let facets = try await store.assetFacets(
            tenantId: tenant.id, query: CatalogQuery(connectionId: connection.id), limit: 100, dimensions: [.kind])
        let counts = Dictionary(facets.kinds.map { ($0.value, $0.count) }, uniquingKeysWith: +)
        let summary = ["table", "view", "column"].compactMap { kind in counts[kind].map { "\($0) \(kind)s" } }
        let text =
            ("""

            Outpost quickstart is running.
              First run:  \(run.status.rawValue)\(run.error.map { " — \($0)" } ?? "")\
            \(summary.isEmpty ? "" : " (\(summary.joined(separator: ", ")) in the catalog)")
              Web UI:     \(plan.url)/ui
              Admin key:  \(adminKey)   (also in \(dataDir)/admin.key)
              Agent data: \(dataDir)/agent (spool, audit ledger: outpost audit verify --data-dir \(dataDir)/agent)
            Press Ctrl-C to stop.

            """)
        // Straight to the descriptor: stdout may be a pipe, where print's buffer would hold it back.
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// The agent's key: minted once (role agent) and kept in the agent's data dir, mode 0600.
    private func agentKey(store: SQLiteControlPlaneStore) async throws -> String {
        let directory = dataDir + "/agent"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = directory + "/api-key"
        if FileManager.default.fileExists(atPath: path) { return path }
        guard let tenant = try await store.firstTenant() else {
            throw ServerCommandError(usage: "the quickstart database has no tenant; remove \(dataDir) and start again")
        }
        let minted = APIKey.mint(
            tenantId: tenant.id, name: "quickstart-agent", role: .agent, expiresAt: nil, now: WallClock.system.now)
        try await store.createKey(minted.key)
        try ServerCommand.writeSecretFile(path, contents: minted.text + "\n")
        return path
    }

    /// Samples/shop.db from the current directory or from the repository the binary was built in.
    static func sampleDatabase() throws -> String {
        var candidates = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: AgentCommand.ownExecutable()).deletingLastPathComponent()
        while url.path != "/" {
            candidates.append(url.path)
            url = url.deletingLastPathComponent()
        }
        for directory in candidates where FileManager.default.fileExists(atPath: directory + "/Samples/shop.db") {
            return directory + "/Samples/shop.db"
        }
        throw ServerCommandError(
            usage: "cannot find Samples/shop.db: run from the repository, or pass --source sqlite:PATH")
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The quickstart's user runs both ends on their own machine: a SQLite or PostgreSQL source they register
    /// with its control plane (web UI, `outpost admin`) is theirs to extract, so the agent approves a job whose
    /// source is exactly that of the connection it names, as the quickstart's own database holds it. Other kinds
    /// keep the configured policy, which refuses them with the reason.
    static func approver(store: SQLiteControlPlaneStore) -> LocalSourceApprover {
        { job in
            guard ["sqlite", "postgresql"].contains(job.sourceKind),
                let tenant = try? await store.firstTenant(),
                let connection = try? await store.connection(tenantId: tenant.id, id: job.connectionId),
                connection.sourceKind == job.sourceKind, connection.sourceURL == job.sourceURL
            else { return nil }
            return transport(kind: job.sourceKind, source: job.sourceURL)
        }
    }

    /// The quickstart's user named the source on this machine: a PostgreSQL server on this machine, or the
    /// `sslmode` they wrote, is their choice; anywhere else the agent's defaults (verify-full, no cleartext
    /// password) hold.
    static func transport(kind: String, source: String) -> LocalSourceApproval {
        guard kind == "postgresql" else { return LocalSourceApproval() }
        let components = URLComponents(string: source)
        let loopback = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(components?.host?.lowercased() ?? "")
        let sslmode = components?.queryItems?.contains(where: { $0.name == "sslmode" }) == true
        return LocalSourceApproval(unverifiedTLS: loopback || sslmode, cleartextPassword: loopback)
    }

    static func readSecretFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !text.isEmpty
        else {
            throw ServerCommandError(usage: "cannot read \(path); remove the data dir to start afresh")
        }
        return text
    }

    /// Waits until the control plane answers its health check.
    static func waitUntilServing(_ plan: Plan) async throws {
        for _ in 0..<200 {
            if isListening(host: plan.host, port: plan.port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServerCommandError(usage: "the control plane did not start listening on \(plan.url)")
    }

    static func isListening(host: String, port: Int) -> Bool {
        guard port != 0 else { return false }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
