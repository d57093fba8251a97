// One suite, both stores: every test runs against SQLite and against PostgreSQL.

import ControlPlane
import ControlPlaneStorage
import OutpostProtocol
import Testing

@Suite("Storage conformance")
struct StorageConformanceTests {
    typealias F = StorageFixtures

    // MARK: Migrations

    @Test("migrate() a second time applies nothing and keeps the data", arguments: StorageBackend.allCases)
    func migrateTwice(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            try await store.migrate()
            try await store.migrate()
            #expect(try await appliedMigrations(store) == allMigrationVersions(store))
            #expect(try await store.tenant(id: tenant.id) == tenant)
        }
    }

    // MARK: Tenants and keys

    @Test("tenants are stored, found by id, and the oldest is the first", arguments: StorageBackend.allCases)
    func tenants(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.firstTenant() == nil)
            let later = F.tenant("later", at: 10)
            let earlier = F.tenant("earlier", at: 5)
            try await store.createTenant(later)
            try await store.createTenant(earlier)
            #expect(try await store.tenant(id: later.id) == later)
            #expect(try await store.tenant(id: "ten_missing") == nil)
            #expect(try await store.firstTenant() == earlier)
            await expectStorageError(.conflict) { try await store.createTenant(later) }
        }
    }

    @Test("a key is found by its hash, listed in its tenant only, revoked once", arguments: StorageBackend.allCases)
    func keys(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let acme = F.tenant("acme")
            let other = F.tenant("other")
            try await store.createTenant(acme)
            try await store.createTenant(other)
            var first = F.key(acme, name: "first", role: .admin, at: 1)
            first.expiresAt = F.time(86_400)
            let second = F.key(acme, name: "second", at: 2)
            let foreign = F.key(other, name: "foreign", at: 0)
            for key in [second, first, foreign] { try await store.createKey(key) }

            #expect(try await store.key(hash: first.hash) == first)
            #expect(try await store.key(hash: "0000") == nil)
            #expect(try await store.keys(tenantId: acme.id) == [first, second])
            #expect(try await store.keys(tenantId: other.id) == [foreign])

            #expect(try await store.revokeKey(tenantId: acme.id, id: first.id, at: F.time(60)))
            #expect(try await store.revokeKey(tenantId: acme.id, id: first.id, at: F.time(120)))
            #expect(try await store.key(hash: first.hash)?.revokedAt == F.time(60))
            #expect(try await !store.revokeKey(tenantId: acme.id, id: "key_missing", at: F.time(60)))

            try await store.touchKey(id: second.id, at: F.time(90))
            #expect(try await store.key(hash: second.hash)?.lastUsedAt == F.time(90))

            var sameHash = F.key(acme)
            sameHash.hash = first.hash
            await expectStorageError(.conflict) { try await store.createKey(sameHash) }
            await expectStorageError(.notFound) {
                try await store.createKey(F.key(Tenant(id: "ten_missing", name: "x", createdAt: F.start)))
            }
        }
    }

    // MARK: Agents

    @Test("upsertAgent inserts, then replaces what the agent reports", arguments: StorageBackend.allCases)
    func upsertAgent(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, _) = try await F.seed(store)
            var agent = F.agent(tenant, at: 1)
            try await store.upsertAgent(agent)
            #expect(try await store.agent(tenantId: tenant.id, id: agent.id) == agent)

            agent.state = "busy"
            agent.version = "1.1.0"
            agent.freeSlots = 0
            agent.runningLeases = 2
            agent.cpuPercent = 42.5
            agent.memoryBytes = 1 << 30
            agent.diskFreeBytes = 5 << 30
            agent.spoolBacklogBytes = 1234
            agent.lastError = "source unreachable"
            agent.lastSeenAt = F.time(31)
            try await store.upsertAgent(agent)
            #expect(try await store.agent(tenantId: tenant.id, id: agent.id) == agent)

            let second = F.agent(tenant, id: "agent-2", name: "edge-0")
            try await store.upsertAgent(second)
            #expect(try await store.agents(tenantId: tenant.id).map(\.id) == ["agent-2", "agent-1"])
        }
    }

    @Test("a drain request survives later heartbeats", arguments: StorageBackend.allCases)
    func drainIsSticky(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, _) = try await F.seed(store)
            let agent = F.agent(tenant)
            #expect(try await !store.requestDrain(tenantId: tenant.id, id: agent.id))
            try await store.upsertAgent(agent)
            #expect(try await store.requestDrain(tenantId: tenant.id, id: agent.id))
            try await store.upsertAgent(agent)
            #expect(try await store.agent(tenantId: tenant.id, id: agent.id)?.drainRequested == true)
        }
    }

    // MARK: Connections

    @Test("connections round-trip with secrets, filters and delivery", arguments: StorageBackend.allCases)
    func connectionCRUD(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            var sales = F.connection(tenant, name: "sales")
            var minimal = F.connection(tenant, name: "archive")
            minimal.secrets = [:]
            minimal.filters = JobFilters()
            minimal.delivery = Delivery(mode: .direct)
            minimal.schedule = nil
            try await store.createConnection(sales)
            try await store.createConnection(minimal)

            #expect(try await store.connection(tenantId: tenant.id, id: sales.id) == sales)
            #expect(try await store.connections(tenantId: tenant.id) == [minimal, sales])

            sales.name = "sales-eu"
            sales.pool = "eu"
            sales.secrets["user"] = "env:PG_USER"
            sales.updatedAt = F.time(60)
            #expect(try await store.updateConnection(sales))
            #expect(try await store.connection(tenantId: tenant.id, id: sales.id) == sales)

            var missing = F.connection(tenant, name: "missing")
            #expect(try await !store.updateConnection(missing))
            missing.name = "archive"
            await expectStorageError(.conflict) { try await store.createConnection(missing) }
            var renamed = sales
            renamed.name = "archive"
            await expectStorageError(.conflict) { _ = try await store.updateConnection(renamed) }

            #expect(try await store.deleteConnection(tenantId: tenant.id, id: minimal.id))
            #expect(try await !store.deleteConnection(tenantId: tenant.id, id: minimal.id))
            #expect(try await store.connection(tenantId: tenant.id, id: minimal.id) == nil)
        }
    }

    @Test("two tenants may each have a connection of the same name", arguments: StorageBackend.allCases)
    func connectionNamesPerTenant(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let acme = F.tenant("acme")
            let other = F.tenant("other")
            try await store.createTenant(acme)
            try await store.createTenant(other)
            try await store.createConnection(F.connection(acme, name: "warehouse"))
            try await store.createConnection(F.connection(other, name: "warehouse"))
            #expect(try await store.connections(tenantId: other.id).map(\.name) == ["warehouse"])
        }
    }

    @Test("deleting a connection deletes its runs and their logs", arguments: StorageBackend.allCases)
    func deleteConnectionCascades(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 1)
            try await store.createRun(run)
            _ = try await store.appendLog(tenantId: tenant.id, runId: run.id, offset: 0, text: Array("hi".utf8))
            #expect(try await store.deleteConnection(tenantId: tenant.id, id: connection.id))
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == nil)
            #expect(try await store.readLog(tenantId: tenant.id, runId: run.id, from: 0, limit: 10) == [])
        }
    }

    // MARK: Tenant isolation

    @Test("tenant B never reaches tenant A's rows through any method", arguments: StorageBackend.allCases)
    func tenantIsolation(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (a, connection) = try await F.seed(store)
            let b = F.tenant("intruder")
            try await store.createTenant(b)
            let key = F.key(a)
            try await store.createKey(key)
            let agent = F.agent(a)
            try await store.upsertAgent(agent)
            let run = F.run(connection, at: 1)
            try await store.createRun(run)
            _ = try await store.appendLog(tenantId: a.id, runId: run.id, offset: 0, text: Array("secret".utf8))

            #expect(try await store.keys(tenantId: b.id) == [])
            #expect(try await !store.revokeKey(tenantId: b.id, id: key.id, at: F.time(5)))
            #expect(try await store.agent(tenantId: b.id, id: agent.id) == nil)
            #expect(try await store.agents(tenantId: b.id) == [])
            #expect(try await !store.requestDrain(tenantId: b.id, id: agent.id))
            #expect(try await store.connection(tenantId: b.id, id: connection.id) == nil)
            #expect(try await store.connections(tenantId: b.id) == [])
            var hijack = connection
            hijack.tenantId = b.id
            hijack.pool = "attacker"
            #expect(try await !store.updateConnection(hijack))
            #expect(try await !store.deleteConnection(tenantId: b.id, id: connection.id))
            var foreignRun = F.run(connection, at: 2)
            foreignRun.tenantId = b.id
            await expectStorageError(.notFound) { try await store.createRun(foreignRun) }
            #expect(try await store.run(tenantId: b.id, id: run.id) == nil)
            #expect(try await store.runs(tenantId: b.id, connectionId: nil, limit: 10) == [])
            #expect(try await store.runs(tenantId: b.id, connectionId: connection.id, limit: 10) == [])
            #expect(
                try await store.claimRuns(
                    tenantId: b.id, agentId: "x", pools: ["default"], limit: 10, ttlSeconds: 60, now: F.time(2)) == [])
            #expect(try await store.requestCancel(tenantId: b.id, runId: run.id, reason: "x", now: F.time(2)) == nil)
            await expectStorageError(.notFound) {
                _ = try await store.appendLog(tenantId: b.id, runId: run.id, offset: 6, text: [1])
            }
            #expect(try await store.readLog(tenantId: b.id, runId: run.id, from: 0, limit: 100) == [])

            let leased = try await store.claimRuns(
                tenantId: a.id, agentId: agent.id, pools: ["default"], limit: 1, ttlSeconds: 60, now: F.time(3))
            #expect(leased.map(\.id) == [run.id])
            #expect(
                try await store.updateLeased(tenantId: b.id, runId: run.id, leaseId: 1, now: F.time(4)) {
                    $0.status = .failed
                } == nil)

            // A's rows are untouched.
            #expect(try await store.connection(tenantId: a.id, id: connection.id) == connection)
            #expect(try await store.key(hash: key.hash)?.revokedAt == nil)
            #expect(try await store.run(tenantId: a.id, id: run.id)?.status == .leased)
            #expect(try await store.readLog(tenantId: a.id, runId: run.id, from: 0, limit: 100) == Array("secret".utf8))
        }
    }

    // MARK: Runs

    @Test("runs are listed newest first, per connection, up to the limit", arguments: StorageBackend.allCases)
    func listRuns(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, sales) = try await F.seed(store)
            let crm = F.connection(tenant, name: "crm")
            try await store.createConnection(crm)
            let runs = [F.run(sales, at: 1), F.run(crm, at: 2), F.run(sales, at: 3)]
            for run in runs { try await store.createRun(run) }
            #expect(try await store.run(tenantId: tenant.id, id: runs[0].id) == runs[0])
            #expect(try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 10) == runs.reversed())
            #expect(try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 2) == [runs[2], runs[1]])
            #expect(try await store.runs(tenantId: tenant.id, connectionId: sales.id, limit: 10) == [runs[2], runs[0]])
            await expectStorageError(.conflict) { try await store.createRun(runs[0]) }
        }
    }

    @Test(
        "claimRuns leases the oldest queued runs of the agent's pools, up to the limit",
        arguments: StorageBackend.allCases)
    func claimRespectsPoolsLimitAndOrder(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, eu) = try await F.seed(store, pool: "eu")
            let us = F.connection(tenant, name: "us", pool: "us")
            try await store.createConnection(us)
            let euRuns = [F.run(eu, at: 30), F.run(eu, at: 10), F.run(eu, at: 20)]
            let usRun = F.run(us, at: 5)
            var cancelling = F.run(eu, at: 1)
            cancelling.cancelRequested = true
            for run in euRuns + [usRun, cancelling] { try await store.createRun(run) }

            let now = F.time(100)
            let claimed = try await store.claimRuns(
                tenantId: tenant.id, agentId: "agent-1", pools: ["eu", "asia"], limit: 2, ttlSeconds: 60, now: now)
            #expect(claimed.map(\.id) == [euRuns[1].id, euRuns[2].id])
            for run in claimed {
                #expect(run.status == .leased)
                #expect(run.leaseId == 1)
                #expect(run.attempt == 1)
                #expect(run.leaseAgentId == "agent-1")
                #expect(run.leaseExpiresAt == now.adding(seconds: 60))
                #expect(try await store.run(tenantId: tenant.id, id: run.id) == run)
            }

            let rest = try await store.claimRuns(
                tenantId: tenant.id, agentId: "agent-2", pools: ["eu"], limit: 10, ttlSeconds: 60, now: now)
            #expect(rest.map(\.id) == [euRuns[0].id])
            #expect(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-2", pools: ["eu"], limit: 10, ttlSeconds: 60, now: now) == [])
            #expect(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-2", pools: [], limit: 10, ttlSeconds: 60, now: now) == [])
            #expect(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-2", pools: ["us"], limit: 0, ttlSeconds: 60, now: now) == [])
            #expect(try await store.run(tenantId: tenant.id, id: usRun.id)?.status == .queued)
            #expect(try await store.run(tenantId: tenant.id, id: cancelling.id)?.status == .queued)
        }
    }

    @Test("the lease id strictly increases each time a run is claimed again", arguments: StorageBackend.allCases)
    func leaseIdIncreases(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0, maxAttempts: 5)
            try await store.createRun(run)
            var previous: Int64 = run.leaseId
            var now = F.time(10)
            for attempt in 1...4 {
                let claimed = try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-\(attempt)", pools: ["default"], limit: 1, ttlSeconds: 30,
                    now: now)
                let lease = try #require(claimed.first)
                #expect(lease.leaseId > previous)
                #expect(lease.attempt == attempt)
                #expect(lease.leaseAgentId == "agent-\(attempt)")
                previous = lease.leaseId
                // Started, so the expiry costs the attempt.
                _ = try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: now) {
                    $0.status = .running
                }
                now = now.adding(seconds: 30 + 10 + 1)
                #expect(try await store.expireLeases(now: now, graceSeconds: 10) == 1)
                let requeued = try #require(try await store.run(tenantId: tenant.id, id: run.id))
                #expect(requeued.status == .queued)
                #expect(requeued.leaseId == lease.leaseId)
                #expect(requeued.leaseAgentId == nil)
                #expect(requeued.leaseExpiresAt == nil)
                // The old holder is fenced off even before the next claim.
                #expect(
                    try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: now) {
                        $0.status = .running
                    } == nil)
            }
        }
    }

    @Test("updateLeased applies the change under the current lease and persists it", arguments: StorageBackend.allCases)
    func updateLeasedPersists(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(1)
                ).first)
            let updated = try #require(
                try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(2))
                {
                    $0.status = .running
                    $0.startedAt = F.time(2)
                    $0.leaseExpiresAt = F.time(62)
                    // Fields the store owns are not the closure's to change.
                    $0.leaseId = 99
                    $0.logBytes = 1000
                    $0.connectionId = "con_other"
                })
            #expect(updated.status == .running)
            #expect(updated.startedAt == F.time(2))
            #expect(updated.leaseExpiresAt == F.time(62))
            #expect(updated.leaseId == lease.leaseId)
            #expect(updated.logBytes == 0)
            #expect(updated.connectionId == connection.id)
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == updated)

            let finished = try #require(
                try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(3))
                {
                    $0.status = .failed
                    $0.error = "source refused the connection"
                    $0.finishedAt = F.time(3)
                })
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == finished)
            // A finished run accepts no more changes, even under its lease.
            #expect(
                try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(4))
                {
                    $0.status = .succeeded
                } == nil)
        }
    }

    @Test(
        "updateLeased with a stale or expired lease returns nil and changes nothing", arguments: StorageBackend.allCases
    )
    func updateLeasedRefusesStaleAndExpired(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(0)
                ).first)
            let stale = try await store.updateLeased(
                tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId - 1, now: F.time(1)
            ) { $0.status = .running }
            #expect(stale == nil)
            let future = try await store.updateLeased(
                tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId + 1, now: F.time(1)
            ) { $0.status = .running }
            #expect(future == nil)
            // Expiry is exclusive: at the expiry instant the lease is already gone.
            let expired = try await store.updateLeased(
                tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(60)
            ) { $0.status = .running }
            #expect(expired == nil)
            #expect(
                try await store.updateLeased(tenantId: tenant.id, runId: "run_missing", leaseId: 1, now: F.time(1)) {
                    $0.status = .running
                } == nil)
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == lease)
        }
    }

    @Test("an error thrown by the change rolls the update back", arguments: StorageBackend.allCases)
    func updateLeasedRollsBack(backend: StorageBackend) async throws {
        struct Refused: Error {}
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(0)
                ).first)
            await #expect(throws: Refused.self) {
                _ = try await store.updateLeased(
                    tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(1)
                ) { run in
                    run.status = .running
                    throw Refused()
                }
            }
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == lease)
        }
    }

    @Test("cancelling a queued run ends it; cancelling a leased run asks its agent", arguments: StorageBackend.allCases)
    func cancelSemantics(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let queued = F.run(connection, at: 2)
            let leased = F.run(connection, at: 1)
            try await store.createRun(queued)
            try await store.createRun(leased)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(3)
                ).first)
            #expect(lease.id == leased.id)

            let cancelled = try #require(
                try await store.requestCancel(tenantId: tenant.id, runId: queued.id, reason: "by admin", now: F.time(4))
            )
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt == F.time(4))
            #expect(cancelled.cancelReason == "by admin")
            #expect(try await store.run(tenantId: tenant.id, id: queued.id) == cancelled)

            let asked = try #require(
                try await store.requestCancel(tenantId: tenant.id, runId: leased.id, reason: "by admin", now: F.time(5))
            )
            #expect(asked.status == .leased)
            #expect(asked.cancelRequested)
            #expect(asked.cancelReason == "by admin")
            #expect(asked.finishedAt == nil)
            // The agent sees it on its next renewal.
            let renewed = try await store.updateLeased(
                tenantId: tenant.id, runId: leased.id, leaseId: lease.leaseId, now: F.time(6)
            ) { $0.leaseExpiresAt = F.time(66) }
            #expect(renewed?.cancelRequested == true)
            #expect(renewed?.cancelReason == "by admin")

            let again = try await store.requestCancel(
                tenantId: tenant.id, runId: queued.id, reason: "again", now: F.time(7))
            #expect(again == cancelled)
            #expect(
                try await store.requestCancel(tenantId: tenant.id, runId: "run_missing", reason: "x", now: F.time(7))
                    == nil)
        }
    }

    @Test("expired leases re-queue the run, then fail it after maxAttempts", arguments: StorageBackend.allCases)
    func expireLeases(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0, maxAttempts: 2)
            try await store.createRun(run)
            func claim(at seconds: Int) async throws -> RunRecord {
                try #require(
                    try await store.claimRuns(
                        tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                        now: F.time(seconds)
                    ).first)
            }

            let first = try await claim(at: 0)
            _ = try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: first.leaseId, now: F.time(1))
            {
                $0.status = .running
            }
            let started = try #require(try await store.run(tenantId: tenant.id, id: run.id))
            // Expired at 60, but the grace period runs until 90.
            #expect(try await store.expireLeases(now: F.time(90), graceSeconds: 30) == 0)
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == started)
            #expect(try await store.expireLeases(now: F.time(91), graceSeconds: 30) == 1)
            let requeued = try #require(try await store.run(tenantId: tenant.id, id: run.id))
            #expect(requeued.status == .queued)
            #expect(requeued.attempt == 1)
            #expect(requeued.finishedAt == nil)

            let second = try await claim(at: 100)
            #expect(second.attempt == 2)
            #expect(second.leaseId == first.leaseId + 1)
            _ = try await store.updateLeased(
                tenantId: tenant.id, runId: run.id, leaseId: second.leaseId, now: F.time(101)
            ) {
                $0.status = .running
            }
            #expect(try await store.expireLeases(now: F.time(200), graceSeconds: 30) == 1)
            let failed = try #require(try await store.run(tenantId: tenant.id, id: run.id))
            #expect(failed.status == .failed)
            #expect(failed.error == "lease expired after 2 attempts")
            #expect(failed.finishedAt == F.time(200))
            #expect(try await store.expireLeases(now: F.time(300), graceSeconds: 30) == 0)
        }
    }

    @Test(
        "a lease never started gives its attempt back when it expires, at most maxAttempts times",
        arguments: StorageBackend.allCases)
    func expireUnstarted(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0, maxAttempts: 2)
            try await store.createRun(run)
            var now = 0
            // Claimed and never started (the answer reached no agent): 2 refunds, then 2 counted attempts.
            for (expectedAttempt, expectedStatus) in [
                (0, RunRecord.Status.queued), (0, .queued), (1, .queued), (2, .failed),
            ] {
                let lease = try #require(
                    try await store.claimRuns(
                        tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                        now: F.time(now)
                    ).first)
                now += 61
                #expect(try await store.expireLeases(now: F.time(now), graceSeconds: 0) == 1)
                let expired = try #require(try await store.run(tenantId: tenant.id, id: run.id))
                #expect(expired.status == expectedStatus)
                #expect(expired.attempt == expectedAttempt)
                #expect(expired.leaseId == lease.leaseId)
                #expect(expired.leaseAgentId == nil || expectedStatus == .failed)
                // The lost lease stays fenced off.
                #expect(
                    try await store.updateLeased(
                        tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(now)
                    ) {
                        $0.status = .running
                    } == nil)
            }
            #expect(try await store.run(tenantId: tenant.id, id: run.id)?.error == "lease expired after 2 attempts")
        }
    }

    @Test("an expired lease on a run being cancelled ends it as cancelled", arguments: StorageBackend.allCases)
    func expireCancelling(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            _ = try await store.claimRuns(
                tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60, now: F.time(0))
            _ = try await store.requestCancel(tenantId: tenant.id, runId: run.id, reason: "stop", now: F.time(1))
            #expect(try await store.expireLeases(now: F.time(61), graceSeconds: 0) == 1)
            let ended = try #require(try await store.run(tenantId: tenant.id, id: run.id))
            #expect(ended.status == .cancelled)
            #expect(ended.finishedAt == F.time(61))
        }
    }

    // MARK: Logs

    @Test("log chunks append at the exact offset; an identical re-send is accepted", arguments: StorageBackend.allCases)
    func appendLog(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            func append(_ text: String, at offset: Int64) async throws -> Int64 {
                try await store.appendLog(tenantId: tenant.id, runId: run.id, offset: offset, text: Array(text.utf8))
            }

            #expect(try await append("hello", at: 0) == 5)
            #expect(try await append(" world", at: 5) == 11)
            #expect(try await append("\n", at: 11) == 12)
            // Re-sends after a lost reply: the same chunk, or any stored range, answers the current length.
            #expect(try await append("hello", at: 0) == 12)
            #expect(try await append(" world", at: 5) == 12)
            #expect(try await append("lo wo", at: 3) == 12)
            #expect(try await append("", at: 12) == 12)
            #expect(try await store.run(tenantId: tenant.id, id: run.id)?.logBytes == 12)

            await expectStorageError(.offsetMismatch(expected: 12)) { _ = try await append("HELLO", at: 0) }
            await expectStorageError(.offsetMismatch(expected: 12)) { _ = try await append("more", at: 13) }
            await expectStorageError(.offsetMismatch(expected: 12)) { _ = try await append("d\nmore", at: 10) }
            await expectStorageError(.offsetMismatch(expected: 12)) { _ = try await append("x", at: -1) }
            await expectStorageError(.notFound) {
                _ = try await store.appendLog(tenantId: tenant.id, runId: "run_missing", offset: 0, text: [1])
            }
            #expect(try await store.run(tenantId: tenant.id, id: run.id)?.logBytes == 12)
        }
    }

    @Test("readLog returns exactly the requested byte range across chunks", arguments: StorageBackend.allCases)
    func readLogRanges(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = F.run(connection, at: 0)
            try await store.createRun(run)
            let chunks: [[UInt8]] = [Array(0..<10), Array(10..<11), Array(11..<40), [0, 255, 0]]
            var offset: Int64 = 0
            for chunk in chunks {
                offset = try await store.appendLog(tenantId: tenant.id, runId: run.id, offset: offset, text: chunk)
            }
            let all = chunks.flatMap { $0 }
            func read(_ from: Int64, _ limit: Int) async throws -> [UInt8] {
                try await store.readLog(tenantId: tenant.id, runId: run.id, from: from, limit: limit)
            }
            #expect(try await read(0, 1000) == all)
            #expect(try await read(0, 10) == Array(all[0..<10]))
            #expect(try await read(5, 10) == Array(all[5..<15]))
            #expect(try await read(10, 1) == [10])
            #expect(try await read(9, 3) == [9, 10, 11])
            #expect(try await read(38, 100) == Array(all[38...]))
            #expect(try await read(43, 10) == [])
            #expect(try await read(100, 10) == [])
            #expect(try await read(3, 0) == [])
            #expect(try await read(38, Int.max) == Array(all[38...]))
            #expect(try await store.readLog(tenantId: tenant.id, runId: "run_missing", from: 0, limit: 10) == [])
        }
    }
}
