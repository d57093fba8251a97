import ControlPlane
import ControlPlaneStorage
import Foundation
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The control plane scaled out as `docs/deployment.md` describes it: stateless `outpost server` replicas on one
/// PostgreSQL database with the delivered metadata in one S3 bucket (moto), agents reaching them directly or
/// through a round-robin load balancer — all real binaries as separate processes.
@Suite("End to end: scale-out", .serialized)
struct ScaleOutTests {
    static let runCount = 200
    static let bucket = "e2e-blobs"
    static let agentNames = ["agent-a", "agent-b", "agent-c"]

    @Test func twoReplicasOnOnePostgreSQLAndOneBucketRunEachOf200RunsOnceOnThreeAgents() async throws {
        let sample = BuildProducts.repositoryRoot + "/Samples/shop.db"
        guard FileManager.default.fileExists(atPath: sample) else {
            throw EndToEndFailure("the sample database \(sample) is missing")
        }
        let reference = try await Self.singleServerCatalog(of: sample)

        let database = try ControlPlaneDatabase()
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='\(Self.bucket)')")
        let replicaEnvironment = environment(moto.environment().merging(["OUTPOST_DATABASE_URL": database.url]) { $1 })
        let blobStore = [
            "--blob-store", "s3://\(Self.bucket)/replicas", "--blob-store-endpoint", moto.url,
            "--blob-store-region", "us-east-1",
        ]
        let replicas = [
            try ServerProcess(arguments: blobStore, environment: replicaEnvironment),
            try ServerProcess(arguments: blobStore, environment: replicaEnvironment),
        ]
        // Both start at once on the empty database: one of them creates the tenant and the admin key, the other
        // finds them.
        async let first: Void = replicas[0].start()
        async let second: Void = replicas[1].start()
        _ = try await (first, second)
        let bootstrapped = replicas.filter {
            FileManager.default.fileExists(atPath: $0.dataDirectory + "/admin.key")
        }
        #expect(bootstrapped.count == 1, "admin.key written by \(bootstrapped.count) replicas")
        let adminKey = try #require(bootstrapped.first).adminKey
        let admins = replicas.map { AdminClient(url: $0.url, key: adminKey) }

        // The load balancer in front of both replicas; agent-a talks to the first replica, agent-b to the second,
        // agent-c through the balancer.
        let directory = try TemporaryDirectory()
        let balancer = try TCPForwarder(upstreamPorts: replicas.map(\.port), directory: directory.path)
        let connection = try await admins[0].createConnection(
            ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: "sqlite:" + sample))
        var setups: [AgentSetup] = []
        var agents: [AgentProcess] = []
        for (index, url) in [replicas[0].url, replicas[1].url, balancer.url].enumerated() {
            let setup = try AgentSetup(
                controlPlane: url, key: try await admins[index % 2].createKey(name: "agent \(index)", role: .agent),
                name: Self.agentNames[index], concurrency: 3, allowedSources: ["sqlite:" + sample])
            agents.append(try setup.start(label: Self.agentNames[index]))
            setups.append(setup)
        }

        // The runs are queued through both replicas' admin APIs, alternately.
        let started = ContinuousClock.now
        var queued: [String] = []
        for index in 0..<Self.runCount {
            queued.append(try await admins[index % 2].runNow(connection.id).id)
        }
        #expect(Set(queued).count == Self.runCount)
        let runs: [RunResponse]
        do {
            runs = try await Self.allFinished(admins[1], count: Self.runCount, within: .seconds(900))
        } catch {
            Issue.record(
                "\(error)\n\(agents.map(\.log).joined(separator: "\n"))\n\(replicas[0].log)\n\(replicas[1].log)")
            throw error
        }
        let elapsed = ContinuousClock.now - started
        print("scale-out: \(Self.runCount) runs on 2 replicas and 3 agents in \(elapsed)")

        // Every run was delivered on its first lease, and its job started once. Runs of one connection delivered
        // out of order: an older delivery ingested after a newer one was published is not published over it
        // (superseded); the newest run always publishes.
        #expect(Set(runs.map(\.id)) == Set(queued))
        for run in runs
        where (run.status != .succeeded && run.status != .superseded) || run.attempt != 1 || run.leaseId != 1 {
            Issue.record("run \(run.id): \(run.status) attempt \(run.attempt) lease \(run.leaseId) \(run.error ?? "")")
        }
        #expect(runs.first { $0.id == queued.last }?.status == .succeeded)
        print("scale-out: \(runs.filter { $0.status == .superseded }.count) runs superseded by newer ones")
        for (index, run) in runs.enumerated() {
            let events = jobEvents(try await admins[index % 2].log(run.id))
            #expect(events.filter { $0 == "job.started" }.count == 1, "run \(run.id): \(events)")
        }
        // Each agent did some of them.
        let agentNames = Dictionary(
            uniqueKeysWithValues: try await admins[0].call(.GET, "/v1/admin/agents", as: AgentList.self).agents.map {
                ($0.id, $0.name)
            })
        var perAgent: [String: Int] = [:]
        for run in runs { perAgent[run.leaseAgentId.flatMap { agentNames[$0] } ?? "none", default: 0] += 1 }
        print("scale-out: runs per agent \(perAgent.sorted { $0.key < $1.key })")
        #expect(Set(perAgent.keys) == Set(Self.agentNames), "\(perAgent)")
        // The balancer sent connections to both replicas; the replicas' logs show each run claimed once, and runs
        // claimed through one replica and completed — so ingested — through the other.
        for replica in replicas {
            #expect(balancer.output.contains("upstream \(replica.port)"), "\(balancer.output)")
        }
        let claimed = replicas.map { Self.runIds(logged: "run.claimed", in: $0.log) }
        let completed = replicas.map { Self.runIds(logged: "run.completed", in: $0.log) }
        #expect((claimed[0] + claimed[1]).sorted() == queued.sorted())
        #expect((completed[0] + completed[1]).sorted() == queued.sorted())
        let crossed =
            Set(claimed[0]).intersection(completed[1]).count + Set(claimed[1]).intersection(completed[0]).count
        print("scale-out: \(crossed) runs claimed through one replica and completed through the other")
        #expect(crossed > 0)

        // The delivered files are in the bucket, not in a replica's data dir.
        let manifests = try moto.boto3(
            """
            pages = client('s3').get_paginator('list_objects_v2').paginate(Bucket='\(Self.bucket)', Prefix='replicas/')
            print(sum(1 for page in pages for o in page.get('Contents', []) if o['Key'].endswith('/manifest.json')))
            """)
        #expect(Int(manifests.trimmingCharacters(in: .whitespacesAndNewlines)) == Self.runCount)
        for replica in replicas {
            #expect(!FileManager.default.fileExists(atPath: replica.dataDirectory + "/blobs"))
        }

        // Both replicas show the same catalog, each asset once, and it is the single server's catalog.
        let viaFirst = try await Self.catalog(admins[0], connectionId: connection.id)
        let viaSecond = try await Self.catalog(admins[1], connectionId: connection.id)
        #expect(viaFirst.duplicates.isEmpty, "\(viaFirst.duplicates)")
        #expect(viaFirst == viaSecond)
        #expect(viaFirst == reference)
        #expect(viaFirst.assets.contains { $0.hasPrefix("table ") && $0.contains("customers") })

        for (agent, name) in zip(agents, Self.agentNames) {
            agent.signal(SIGTERM)
            #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(name): \(agent.log)")
        }
        withExtendedLifetime(setups) {}
        for replica in replicas {
            #expect(try await replica.stop() == 0, "\(replica.log)")
        }
    }

    /// A connection's catalog as a comparable value: the normalized asset list, each table's and view's record
    /// with its columns, keys and indexes, and the assets listed more than once.
    struct ComparableCatalog: Equatable {
        var assets: [String]
        var relations: [String: String]
        var duplicates: [String]
    }

    static func catalog(_ admin: AdminClient, connectionId: String) async throws -> ComparableCatalog {
        let assets = try await admin.catalog(connectionId: connectionId)
        guard assets.count < 500 else { throw EndToEndFailure("the catalog has more assets than one page") }
        let name = try await admin.call(
            .GET, "/v1/admin/connections/\(connectionId)", as: ConnectionResponse.self
        ).name
        var relations: [String: String] = [:]
        for asset in assets where asset.kind == "table" || asset.kind == "view" {
            let record = try await admin.asset(
                connectionId: connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName)
            relations[Catalog.strip(asset.qualifiedName, name)] = try Catalog.comparable(record, name)
        }
        return ComparableCatalog(
            assets: Catalog.normalized(assets, connectionName: name), relations: relations,
            duplicates: Catalog.duplicates(assets).map { Catalog.strip($0, name) })
    }

    /// The catalog one `outpost server` on SQLite with its local blob folder and one agent publish for the source.
    static func singleServerCatalog(of sample: String) async throws -> ComparableCatalog {
        let server = try ServerProcess()
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(
            ConnectionRequest(name: "single", sourceKind: "sqlite", sourceURL: "sqlite:" + sample))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            allowedSources: ["sqlite:" + sample])
        let agent = try setup.start()
        let run = try await admin.finished(try await admin.runNow(connection.id).id)
        guard run.status == .succeeded else {
            throw EndToEndFailure("the single server's run \(run.status): \(run.error ?? "") \(agent.log)")
        }
        let catalog = try await catalog(admin, connectionId: connection.id)
        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        #expect(try await server.stop() == 0, "\(server.log)")
        return catalog
    }

    /// The run ids of a server log's `event` lines (`… run.id=RUN … [ControlPlane] EVENT`), in order.
    static func runIds(logged event: String, in log: String) -> [String] {
        log.split(separator: "\n").filter { $0.hasSuffix(" " + event) }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("run.id=") }.map { String($0.dropFirst("run.id=".count)) }
        }
    }

    /// Waits until `count` runs exist and all have finished; returns them.
    static func allFinished(_ admin: AdminClient, count: Int, within limit: Duration) async throws -> [RunResponse] {
        let deadline = ContinuousClock.now + limit
        var runs: [RunResponse] = []
        while ContinuousClock.now < deadline {
            runs = try await admin.runs()
            if runs.count >= count && runs.allSatisfy(\.status.isFinished) { return runs }
            try await Task.sleep(for: .seconds(1))
        }
        let unfinished = runs.filter { !$0.status.isFinished }.map { "\($0.id) \($0.status)" }
        throw EndToEndFailure(
            "\(unfinished.count) of \(runs.count) runs did not finish within \(limit): \(unfinished.prefix(10))")
    }
}
