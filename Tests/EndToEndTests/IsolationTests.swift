import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a deployment promises about separation: tenants see only their own work, and a source password never
/// reaches the control plane — with the real binaries and a control plane on PostgreSQL.
@Suite("End to end: tenants and secrets", .serialized)
struct IsolationTests {
    static let canary = "CANARY-e2e-pw-5c1d9a7e3b60f284"

    @Test func twoTenantsWithTheirOwnAgentsNeverSeeEachOthersRunsLogsOrAssets() async throws {
        let source = try SourceDatabase()
        let database = try ControlPlaneDatabase()
        let server = try ServerProcess(environment: environment(["OUTPOST_DATABASE_URL": database.url]))
        try await server.start()
        let acme = try server.admin
        let globex = AdminClient(url: server.url, key: try await Self.createTenant("globex", in: database))

        var runs: [String: String] = [:]
        var connections: [String: String] = [:]
        var agents: [AgentProcess] = []
        // The setups own the agents' directories: they must live as long as the agents.
        var setups: [AgentSetup] = []
        for (name, admin) in [("acme", acme), ("globex", globex)] {
            let connection = try await admin.createConnection(
                source.connection(name: "\(name)-sales", password: "command:pw"))
            connections[name] = connection.id
            runs[name] = try await admin.runNow(connection.id).id
            let setup = try AgentSetup(
                server: server, key: try await admin.createKey(name: "\(name) agent", role: .agent),
                name: "\(name)-agent", secretCommands: ["pw": "echo \(source.password)"])
            agents.append(try setup.start(label: name))
            setups.append(setup)
        }
        for (index, (name, admin)) in [("acme", acme), ("globex", globex)].enumerated() {
            do {
                let finished = try await admin.finished(runs[name]!)
                #expect(finished.status == .succeeded, "\(name): \(finished.error ?? "") \(agents[index].log)")
            } catch {
                Issue.record("\(name): \(error) \(agents[index].log) \(server.log)")
                throw error
            }
        }

        for (name, admin, other) in [("acme", acme, "globex"), ("globex", globex, "acme")] {
            let ownRun = runs[name]!
            let otherRun = runs[other]!
            #expect(try await admin.runs().map(\.id) == [ownRun])
            #expect(
                try await admin.call(.GET, "/v1/admin/connections", as: ConnectionList.self).connections.map(\.id)
                    == [connections[name]!])
            #expect(
                try await admin.call(.GET, "/v1/admin/agents", as: AgentList.self).agents.map(\.name)
                    == ["\(name)-agent"])
            for path in [
                "/v1/admin/runs/\(otherRun)", "/v1/admin/runs/\(otherRun)/logs",
                "/v1/admin/connections/\(connections[other]!)",
            ] {
                #expect(try await admin.send(.GET, path).status == 404, "\(name) GET \(path)")
            }
            #expect(try await admin.send(.POST, "/v1/admin/runs/\(otherRun)/cancel").status == 404)
            #expect(try await admin.catalog(connectionId: connections[other]!).isEmpty)
            let everything = try await admin.call(
                .GET, "/v1/admin/catalog/search?limit=500", as: CatalogSearchResponse.self
            ).assets
            #expect(!everything.isEmpty)
            #expect(everything.allSatisfy { $0.connectionId == connections[name]! })
            #expect(
                try await admin.send(
                    .GET,
                    "/v1/admin/catalog/assets?connectionId=\(connections[other]!)&kind=schema&qualifiedName="
                        + "\(other)-sales"
                ).status == 404)
        }
        // An agent's key cannot touch the other tenant's run either.
        let acmeAgentKey = try await acme.createKey(name: "probe", role: .agent)
        let globexRun = try await globex.run(runs["globex"]!)
        let probe = AdminClient(url: server.url, key: acmeAgentKey)
        let renewal = try await probe.send(
            .POST, "/v1/runs/\(globexRun.id)/lease",
            json: try JSONEncoder().encode(LeaseRenewalRequest(leaseId: globexRun.leaseId)))
        #expect(renewal.status == 404, "\(String(decoding: renewal.body, as: UTF8.self))")

        for agent in agents {
            agent.signal(SIGTERM)
            #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        }
        withExtendedLifetime(setups) {}
        try await server.stop()
    }

    @Test func aCanaryPasswordFromSecretsManagerIsInNothingTheServerStoredPrintedOrReceived() async throws {
        let source = try SourceDatabase(password: Self.canary)
        let database = try ControlPlaneDatabase()
        let moto = try TestMoto()
        try moto.boto3(
            "client('secretsmanager').create_secret(Name='e2e/pg', "
                + "SecretString=json.dumps({'password': '\(Self.canary)'}))")
        let server = try ServerProcess(
            arguments: ["--log-level", "trace"], environment: environment(["OUTPOST_DATABASE_URL": database.url]))
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(
            source.connection(name: "sales", password: "aws-sm:e2e/pg#password"))
        let setup = try AgentSetup(server: server, key: try await admin.createKey(name: "agent", role: .agent))
        var agentEnvironment = environment(moto.environment())
        agentEnvironment["PGPASSWORD"] = nil
        let agent = try setup.start(environment: agentEnvironment)
        let run = try await admin.runNow(connection.id)
        let finished = try await admin.finished(run.id)
        // The canary is the source's real password: the run can only succeed with it.
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        let log = try await admin.log(run.id)
        #expect(log.contains("job.secret_resolved"), "\(log)")
        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        try await server.stop()

        let needles = [Data(Self.canary.utf8), Data(Data(Self.canary.utf8).base64EncodedString().utf8)]
        var haystacks: [(String, Data)] = [
            ("the run log", Data(log.utf8)), ("the control plane's database", Data(try database.dump().utf8)),
            ("the server's output", Data(server.log.utf8)), ("the agent's output", Data(agent.log.utf8)),
        ]
        for file in files(under: server.dataDirectory) + files(under: setup.dataDirectory) {
            haystacks.append((file, try Data(contentsOf: URL(fileURLWithPath: file))))
        }
        #expect(haystacks.count > 6)
        for (place, bytes) in haystacks {
            for needle in needles {
                #expect(bytes.range(of: needle) == nil, "the canary is in \(place)")
            }
        }
    }

    /// Creates a second tenant with an admin key directly in the control plane's database (the admin API acts
    /// within one tenant and has no call for that); returns the key.
    static func createTenant(_ name: String, in database: ControlPlaneDatabase) async throws -> String {
        var logger = Logger(label: "outpost.e2e.store")
        logger.logLevel = .error
        let store = try PostgresControlPlaneStore(url: database.url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.runConnections() }
            let now = WallClock.system.now
            let tenant = Tenant(id: Identifier.make("ten"), name: name, createdAt: now)
            let minted = APIKey.mint(tenantId: tenant.id, name: "\(name) admin", role: .admin, expiresAt: nil, now: now)
            do {
                try await store.createTenant(tenant)
                try await store.createKey(minted.key)
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
            try await group.waitForAll()
            return minted.text
        }
    }
}
