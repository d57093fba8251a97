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

/// The real `outpost server` and `outpost agent` binaries as separate processes, a real PostgreSQL source and
/// moto for S3: runs that survive what happens to real deployments.
@Suite("End to end: runs through failures", .serialized)
struct RunResilienceTests {
    static let relayBucket = "e2e-relay"

    static func relay(_ moto: TestMoto) -> DeliverySettings {
        DeliverySettings(
            mode: .relay,
            relay: RelaySettings(bucket: relayBucket, prefix: "outpost/", region: "us-east-1", endpoint: moto.url))
    }

    /// The same job run again uninterrupted logs the same job.* lines as the run, each once, in the same order (none
    /// was lost or repeated), and the catalog is whole.
    static func expectWholeJobLog(
        of runId: String, connectionId: String, _ admin: AdminClient, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let reference = try await admin.finished(try await admin.runNow(connectionId).id)
        #expect(reference.status == .succeeded, sourceLocation: sourceLocation)
        let events = jobEvents(try await admin.log(runId))
        #expect(events == jobEvents(try await admin.log(reference.id)), sourceLocation: sourceLocation)
        #expect(Set(events).count == events.count, "\(events)", sourceLocation: sourceLocation)
        for event in ["job.started", "job.secret_resolved", "job.extracted"] {
            #expect(events.contains(event), "\(events)", sourceLocation: sourceLocation)
        }
        let assets = try await admin.catalog(connectionId: connectionId)
        #expect(Catalog.problems(assets).isEmpty, "\(Catalog.problems(assets))", sourceLocation: sourceLocation)
    }

    @Test func aDirectRunAndABucketRelayRunOfTheSameSourcePublishTheSameCatalog() async throws {
        let source = try SourceDatabase()
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='\(Self.relayBucket)')")
        let server = try ServerProcess(
            arguments: ["--relay-endpoint", moto.url], environment: environment(moto.environment()))
        try await server.start()
        let admin = try server.admin
        let direct = try await admin.createConnection(source.connection(name: "direct", password: "command:pw"))
        let relayed = try await admin.createConnection(
            source.connection(name: "relayed", password: "command:pw", delivery: Self.relay(moto)))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "echo \(source.password)"])
        let agent = try setup.start(environment: environment(moto.environment()))

        let directRun = try await admin.runNow(direct.id)
        let relayRun = try await admin.runNow(relayed.id)
        let directFinished = try await admin.finished(directRun.id)
        let relayFinished = try await admin.finished(relayRun.id)
        #expect(directFinished.status == .succeeded, "\(directFinished.error ?? "") \(agent.log)")
        #expect(relayFinished.status == .succeeded, "\(relayFinished.error ?? "") \(agent.log)")

        let viaDirect = try await admin.catalog(connectionId: direct.id)
        let viaRelay = try await admin.catalog(connectionId: relayed.id)
        #expect(Catalog.problems(viaDirect).isEmpty, "\(Catalog.problems(viaDirect))")
        #expect(
            Catalog.normalized(viaDirect, connectionName: "direct")
                == Catalog.normalized(viaRelay, connectionName: "relayed"))
        // Table for table, the published records (columns, keys, indexes) are the same too.
        for table in viaDirect where table.kind == "table" || table.kind == "view" {
            let relayName = "relayed" + table.qualifiedName.dropFirst("direct".count)
            let one = try await admin.asset(
                connectionId: direct.id, kind: table.kind, qualifiedName: table.qualifiedName)
            let other = try await admin.asset(connectionId: relayed.id, kind: table.kind, qualifiedName: relayName)
            let directRecord = try Catalog.comparable(one, "direct")
            let relayRecord = try Catalog.comparable(other, "relayed")
            #expect(directRecord == relayRecord)
        }
        let objects = try moto.boto3(
            "print('\\n'.join(o['Key'] for o in client('s3').list_objects_v2(Bucket='\(Self.relayBucket)')"
                + "['Contents']))")
        #expect(objects.contains("outpost/\(relayed.id)/\(relayRun.id)/manifest.json"), "\(objects)")

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        #expect(try await server.stop() == 0, "\(server.log)")
    }

    @Test func anAgentKilledMidExtractionLosesItsLeaseAndASecondAgentFinishesTheRunOnce() async throws {
        let source = try SourceDatabase()
        let server = try ServerProcess(arguments: ["--lease-ttl-seconds", "6", "--lease-grace-seconds", "1"])
        try await server.start()
        let admin = try server.admin
        let key = try await admin.createKey(name: "agents", role: .agent)
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        let run = try await admin.runNow(connection.id)

        // The first agent's job waits for its (slow) password command and is killed with its agent meanwhile. With
        // one slot it holds no claim open while the job runs: a claim held by a killed agent could be answered
        // with the re-queued run, which would then cost an attempt until that lease expired too.
        let first = try AgentSetup(
            server: server, key: key, name: "first", secretCommands: ["pw": "sleep 60; echo \(source.password)"],
            concurrency: 1)
        let doomed = try first.start()
        _ = try await admin.waitFor(run.id) { $0.status == .running }
        try await Task.sleep(for: .seconds(1))
        let jobs = ProcessTable.processes(mentioning: "outpost run-job")
        let secretCommands = ProcessTable.processes(mentioning: source.password)
        #expect(jobs.count == 1)
        doomed.signal(SIGKILL)
        #expect(await doomed.waitForExit(within: .seconds(10)) != nil)

        let second = try AgentSetup(
            server: server, key: key, name: "second", secretCommands: ["pw": "echo \(source.password)"])
        let survivor = try second.start()
        let finished = try await admin.finished(run.id, within: .seconds(40))
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(survivor.log)")
        #expect(finished.attempt == 2)
        let assets = try await admin.catalog(connectionId: connection.id)
        #expect(Catalog.problems(assets).isEmpty, "\(Catalog.problems(assets))")
        #expect(Set(assets.map(\.runId)) == [run.id])
        // The killed attempt's job died with its agent (PDEATHSIG)…
        #expect(Set(jobs).isDisjoint(with: ProcessTable.processes(mentioning: "outpost run-job")))
        // …and so did the secret command it had started, though it has a process group of its own (PDEATHSIG).
        #expect(!secretCommands.isEmpty)
        let deadline = ContinuousClock.now + .seconds(5)
        while !Set(secretCommands).isDisjoint(with: ProcessTable.processes(mentioning: source.password))
            && ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Set(secretCommands).isDisjoint(with: ProcessTable.processes(mentioning: source.password)))
        for pid in secretCommands { kill(-(Int32(pid) ?? 0), SIGKILL) }

        survivor.signal(SIGTERM)
        #expect(await survivor.waitForExit(within: .seconds(30)) == 0, "\(survivor.log)")
        try await server.stop()
    }

    @Test func aRunAnsweredToADeadAgentsOpenLongPollStartsOnALiveAgentWithinSeconds() async throws {
        let source = try SourceDatabase()
        // Default lease settings: the point is that recovery does not wait for the lease TTL and grace (90 s).
        let server = try ServerProcess()
        try await server.start()
        let admin = try server.admin
        let key = try await admin.createKey(name: "agents", role: .agent)
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        let commands = ["pw": "echo \(source.password)"]

        // An idle agent holding a claim open, killed: its long poll stays open on the server for a while.
        // Each setup owns its agent's folder (config, key, data): it must outlive the agent.
        let doomedSetup = try AgentSetup(server: server, key: key, name: "doomed", secretCommands: commands)
        let doomed = try doomedSetup.start()
        let deadline = ContinuousClock.now + .seconds(20)
        while try await admin.call(.GET, "/v1/admin/agents", as: AgentList.self).agents.isEmpty,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .seconds(1))
        doomed.signal(SIGKILL)
        #expect(await doomed.waitForExit(within: .seconds(10)) != nil)

        let run = try await admin.runNow(connection.id)
        let queuedAt = ContinuousClock.now
        let survivorSetup = try AgentSetup(server: server, key: key, name: "survivor", secretCommands: commands)
        let survivor = try survivorSetup.start()
        let started: RunResponse
        do {
            started = try await admin.waitFor(run.id, within: .seconds(30)) { $0.startedAt != nil }
        } catch {
            Issue.record("\(error)\nsurvivor: \(survivor.log)\nserver: \(server.log.suffix(4000))")
            throw error
        }
        #expect(
            ContinuousClock.now - queuedAt < .seconds(20),
            "started \(ContinuousClock.now - queuedAt) after it was queued")
        let finished = try await admin.finished(run.id, within: .seconds(60))
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(survivor.log)")
        // The scenario as it happened: how often the run was handed out (twice when the dead agent's held claim got it).
        let claims = server.log.split(separator: "\n").filter {
            $0.contains("run.claimed") && $0.contains("run.id=\(run.id)")
        }.count
        print("dead-agent claim: the run was claimed \(claims) times before it finished")
        // A claim that was never started does not count as an attempt.
        #expect(finished.attempt == 1)
        #expect(started.leaseAgentId == finished.leaseAgentId)

        survivor.signal(SIGTERM)
        #expect(await survivor.waitForExit(within: .seconds(30)) == 0, "\(survivor.log)")
        try await server.stop()
        withExtendedLifetime((doomedSetup, survivorSetup)) {}
    }

    @Test func aServerRestartedMidRunLosesNoLogLineAndTheRunCompletes() async throws {
        let source = try SourceDatabase()
        let server = try ServerProcess()
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "sleep 3; echo \(source.password)"])
        let agent = try setup.start()

        let interrupted = try await admin.runNow(connection.id)
        _ = try await admin.waitFor(interrupted.id) { $0.status == .running }
        #expect(try await server.stop(signal: SIGTERM) == 0, "\(server.log)")
        // The job resolves its password, extracts and logs while the control plane is away.
        try await Task.sleep(for: .seconds(5))
        try await server.start()
        let finished = try await admin.finished(interrupted.id)
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        #expect(finished.attempt == 1)
        #expect(finished.logTotalBytes == finished.logBytes)
        #expect((finished.logDroppedBytes ?? 0) == 0)

        try await Self.expectWholeJobLog(of: interrupted.id, connectionId: connection.id, admin)

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        try await server.stop()
    }

    @Test func aControlPlaneDownForTwiceTheLeaseTtlAfterTheJobFinishedGetsTheRunCompletedOnceWithItsWholeLog()
        async throws
    {
        let source = try SourceDatabase()
        let server = try ServerProcess(arguments: ["--lease-ttl-seconds", "6", "--lease-grace-seconds", "1"])
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        // The job waits for its password until the control plane is gone, then extracts and logs during the outage.
        let gate = try TemporaryDirectory()
        let open = gate.path + "/open"
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "while [ ! -e \(open) ]; do sleep 0.1; done; echo \(source.password)"])
        let agent = try setup.start()
        let run = try await admin.runNow(connection.id)
        _ = try await admin.waitFor(run.id) { $0.status == .running }

        let outage = ContinuousClock.now
        #expect(try await server.stop(signal: SIGKILL) != 0)
        #expect(FileManager.default.createFile(atPath: open, contents: nil))
        // Twice the lease's TTL: the agent's lease (6 s, fenced 2 s early) runs out while its delivery waits in the
        // spool; the job ended well before that.
        try await Task.sleep(until: outage + .seconds(12))
        #expect(agent.log.contains("job.process_ended"), "\(agent.log)")
        #expect(agent.log.contains("run.lease_lapsed"), "\(agent.log)")
        try await server.start()

        let finished = try await admin.finished(run.id)
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        #expect(finished.attempt == 1, "\(agent.log)")
        #expect(finished.logTotalBytes == finished.logBytes)
        #expect((finished.logDroppedBytes ?? 0) == 0)
        #expect(agent.log.contains("run.lease_reconfirmed"), "\(agent.log)")
        #expect(!agent.log.contains("run.abandoned"), "\(agent.log)")

        try await Self.expectWholeJobLog(of: run.id, connectionId: connection.id, admin)

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        try await server.stop()
    }

    @Test func aRelayBucketThatIsDownForAWhileGetsTheRunDeliveredOnceFromTheSpool() async throws {
        let source = try SourceDatabase()
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='\(Self.relayBucket)')")
        // The bucket's endpoint is a forwarder to moto: killing it takes the bucket away, moto keeps its state.
        let directory = try TemporaryDirectory()
        var bucket: TCPForwarder? = try TCPForwarder(upstreamPort: moto.port, directory: directory.path)
        let bucketPort = bucket!.port
        let bucketURL = bucket!.url
        let server = try ServerProcess(
            arguments: ["--relay-endpoint", bucketURL], environment: environment(moto.environment()))
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(
            source.connection(
                name: "sales", password: "command:pw",
                delivery: DeliverySettings(
                    mode: .relay,
                    relay: RelaySettings(
                        bucket: Self.relayBucket, prefix: "outpost/", region: "us-east-1", endpoint: bucketURL))))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "sleep 2; echo \(source.password)"])
        let agent = try setup.start(environment: environment(moto.environment()))
        let run = try await admin.runNow(connection.id)
        _ = try await admin.waitFor(run.id) { $0.status == .running }

        bucket = nil
        let deadline = ContinuousClock.now + .seconds(30)
        while agent.log.components(separatedBy: "delivery.retry").count < 3 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(agent.log.components(separatedBy: "delivery.retry").count >= 3, "\(agent.log)")
        #expect(try await admin.run(run.id).status == .running)

        bucket = try TCPForwarder(port: bucketPort, upstreamPort: moto.port, directory: directory.path)
        let finished = try await admin.finished(run.id, within: .seconds(90))
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        #expect(finished.attempt == 1)
        let manifests = try moto.boto3(
            "print(sum(1 for o in client('s3').list_objects_v2(Bucket='\(Self.relayBucket)')['Contents'] "
                + "if o['Key'].endswith('manifest.json')))")
        #expect(manifests.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let assets = try await admin.catalog(connectionId: connection.id)
        #expect(Catalog.problems(assets).isEmpty, "\(Catalog.problems(assets))")

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        try await server.stop()
    }

    @Test func anUploadGrantThatExpiredBeforeUseIsGrantedAgainAndTheRunCompletes() async throws {
        let source = try SourceDatabase()
        let directory = try TemporaryDirectory()
        // Upload URLs name the proxy, which holds the first upload back past the grant's 10 s lifetime.
        let serverPort = try FreePort.find()
        let proxy = try TCPForwarder(
            upstreamPort: serverPort, holdingFirstPutFor: .seconds(11), directory: directory.path)
        let server = try ServerProcess(
            port: serverPort, arguments: ["--upload-grant-seconds", "10", "--public-url", proxy.url])
        try await server.start()
        let admin = try server.admin
        let connection = try await admin.createConnection(source.connection(name: "sales", password: "command:pw"))
        let setup = try AgentSetup(
            server: server, key: try await admin.createKey(name: "agent", role: .agent),
            secretCommands: ["pw": "echo \(source.password)"])
        let agent = try setup.start()
        let run = try await admin.runNow(connection.id)
        let finished = try await admin.finished(run.id)
        #expect(finished.status == .succeeded, "\(finished.error ?? "") \(agent.log)")
        #expect(finished.attempt == 1)
        #expect(proxy.output.contains("held"))
        #expect(agent.log.contains("delivery.regrant"), "\(agent.log)")
        let assets = try await admin.catalog(connectionId: connection.id)
        #expect(Catalog.problems(assets).isEmpty, "\(Catalog.problems(assets))")

        agent.signal(SIGTERM)
        #expect(await agent.waitForExit(within: .seconds(30)) == 0, "\(agent.log)")
        try await server.stop()
    }
}
