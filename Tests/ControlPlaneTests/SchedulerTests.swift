// The scheduler against both stores with a hand-moved clock: slots queue one run each, missed slots one catch-up
// run, busy connections skip, and two schedulers racing on one PostgreSQL queue one run per slot. Also the
// recovery of runs a stopped server left `ingesting`.

import ControlPlaneStorage
import Logging
import OutpostProtocol
import OutpostTesting
import Testing

@testable import ControlPlane

@Suite("Scheduler", .serialized)
struct SchedulerTests {
    typealias F = StorageFixtures

    static var logger: Logger {
        var logger = Logger(label: "outpost.test.scheduler")
        logger.logLevel = .error
        return logger
    }

    static func scheduler(_ store: any ControlPlaneStore, clock: ManualClock) -> Scheduler {
        Scheduler(
            store: store, notifier: RunNotifier(), clock: clock.wallClock, interval: .seconds(10), maxAttempts: 3,
            logger: logger)
    }

    /// A connection of `tenant` on `schedule` whose first slot is computed from `clock`'s time, stored.
    static func scheduledConnection(
        _ store: any ControlPlaneStore, tenant: Tenant, name: String = "sales", schedule: String, clock: ManualClock
    ) async throws -> ConnectionRecord {
        var connection = F.connection(tenant, name: name)
        connection.schedule = schedule
        connection.nextRunAt = try CronSchedule(parsing: schedule).next(after: clock.now)
        try await store.createConnection(connection)
        return connection
    }

    /// Finishes every unfinished run of the tenant (queued runs are cancelled), so the next slot is not skipped.
    static func finishAll(_ store: any ControlPlaneStore, tenant: Tenant, clock: ManualClock) async throws {
        for run in try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 500) where !run.status.isFinished
        {
            _ = try await store.requestCancel(tenantId: tenant.id, runId: run.id, reason: "test", now: clock.now)
        }
    }

    // MARK: Store conformance

    @Test("the schedule's compare-and-set moves a slot once and queues its run", arguments: StorageBackend.allCases)
    func compareAndSet(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let clock = ManualClock()
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let connection = try await Self.scheduledConnection(
                store, tenant: tenant, schedule: "*/5 * * * *", clock: clock)
            let slot = try #require(connection.nextRunAt)
            #expect(slot == clock.now.adding(seconds: 300))
            #expect(try await store.connection(tenantId: tenant.id, id: connection.id)?.nextRunAt == slot)

            #expect(try await store.dueConnections(now: clock.now, limit: 10).isEmpty)
            clock.advance(seconds: 300)
            #expect(try await store.dueConnections(now: clock.now, limit: 10).map(\.id) == [connection.id])

            let run = F.run(connection, at: 300)
            let next = slot.adding(seconds: 300)
            #expect(
                try await store.advanceSchedule(
                    tenantId: tenant.id, connectionId: connection.id, expected: slot, next: next, run: run) == .queued)
            // The same slot again (a second replica that read it before the first moved it): lost, nothing queued.
            #expect(
                try await store.advanceSchedule(
                    tenantId: tenant.id, connectionId: connection.id, expected: slot, next: next,
                    run: F.run(connection, at: 300)) == .lost)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: connection.id, limit: 10) == [run])
            #expect(try await store.connection(tenantId: tenant.id, id: connection.id)?.nextRunAt == next)
            #expect(try await store.dueConnections(now: clock.now, limit: 10).isEmpty)

            // The next slot while that run is still queued: moved on, nothing queued.
            clock.advance(seconds: 300)
            #expect(
                try await store.advanceSchedule(
                    tenantId: tenant.id, connectionId: connection.id, expected: next, next: next.adding(seconds: 300),
                    run: F.run(connection, at: 600)) == .skippedActiveRun)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: connection.id, limit: 10).count == 1)

            // Another tenant's id never matches.
            let other = F.tenant("other")
            try await store.createTenant(other)
            #expect(
                try await store.advanceSchedule(
                    tenantId: other.id, connectionId: connection.id, expected: next.adding(seconds: 300),
                    next: nil, run: nil) == .lost)
        }
    }

    @Test(
        "connections without a computed slot are due, and without a schedule never",
        arguments: StorageBackend.allCases)
    func uncomputedAndUnscheduled(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            var legacy = F.connection(tenant, name: "legacy")
            legacy.nextRunAt = nil
            try await store.createConnection(legacy)
            var manual = F.connection(tenant, name: "manual")
            manual.schedule = nil
            try await store.createConnection(manual)
            #expect(try await store.dueConnections(now: F.time(0), limit: 10).map(\.id) == [legacy.id])
            #expect(
                try await store.advanceSchedule(
                    tenantId: tenant.id, connectionId: manual.id, expected: nil, next: F.time(60), run: nil) == .lost)
            #expect(
                try await store.advanceSchedule(
                    tenantId: tenant.id, connectionId: legacy.id, expected: nil, next: F.time(3600), run: nil)
                    == .advanced)
            #expect(try await store.dueConnections(now: F.time(0), limit: 10).isEmpty)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 10).isEmpty)
        }
    }

    // MARK: The service

    @Test("each slot queues one run; a long downtime queues one catch-up run", arguments: StorageBackend.allCases)
    func slotsAndCatchUp(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let clock = ManualClock()
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let connection = try await Self.scheduledConnection(
                store, tenant: tenant, schedule: "@hourly", clock: clock)
            let scheduler = Self.scheduler(store, clock: clock)

            #expect(await scheduler.tick() == .init())
            clock.advance(seconds: 3600)
            #expect(await scheduler.tick().queued == 1)
            #expect(await scheduler.tick() == .init())
            try await Self.finishAll(store, tenant: tenant, clock: clock)

            // Down for 10 hours: one run, and the next slot is the first after now, not a missed one.
            clock.advance(seconds: 10 * 3600 + 120)
            #expect(await scheduler.tick().queued == 1)
            #expect(await scheduler.tick().queued == 0)
            let stored = try #require(try await store.connection(tenantId: tenant.id, id: connection.id))
            #expect(stored.nextRunAt == F.start.adding(seconds: 12 * 3600))
            let runs = try await store.runs(tenantId: tenant.id, connectionId: connection.id, limit: 10)
            #expect(runs.count == 2)
            #expect(runs.allSatisfy { $0.maxAttempts == 3 && $0.attempt == 0 })
            #expect(runs.first?.status == .queued)
        }
    }

    @Test("a slot whose previous run is still queued queues nothing", arguments: StorageBackend.allCases)
    func busySkips(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let clock = ManualClock()
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            _ = try await Self.scheduledConnection(store, tenant: tenant, schedule: "* * * * *", clock: clock)
            let scheduler = Self.scheduler(store, clock: clock)
            clock.advance(seconds: 60)
            #expect(await scheduler.tick().queued == 1)
            clock.advance(seconds: 60)
            #expect(await scheduler.tick() == .init(queued: 0, skipped: 1, lost: 0))
            try await Self.finishAll(store, tenant: tenant, clock: clock)
            clock.advance(seconds: 60)
            #expect(await scheduler.tick().queued == 1)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 10).count == 2)
        }
    }

    @Test("a tick handles more due connections than one batch, and skips a stored schedule that no longer parses")
    func batchesAndInvalidSchedules() async throws {
        try await StorageBackend.sqlite.withStore { store in
            let clock = ManualClock()
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            for index in 0..<7 {
                _ = try await Self.scheduledConnection(
                    store, tenant: tenant, name: "c\(index)", schedule: "0 0 * * *", clock: clock)
            }
            var broken = F.connection(tenant, name: "broken")
            broken.schedule = "0 0 31 2 *"
            broken.nextRunAt = F.time(0)
            try await store.createConnection(broken)
            let scheduler = Scheduler(
                store: store, notifier: RunNotifier(), clock: clock.wallClock, interval: .seconds(10), maxAttempts: 3,
                batchSize: 3, logger: Self.logger)
            clock.advance(seconds: 86_400)
            #expect(await scheduler.tick().queued == 7)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: broken.id, limit: 10).isEmpty)
            #expect(try await store.dueConnections(now: clock.now, limit: 10).map(\.id) == [broken.id])
        }
    }

    @Test("connections migrated without a slot get one computed, without a run")
    func computesMissingSlot() async throws {
        try await StorageBackend.sqlite.withStore { store in
            let clock = ManualClock()
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            let connection = F.connection(tenant)  // "0 * * * *", nextRunAt nil
            try await store.createConnection(connection)
            let scheduler = Self.scheduler(store, clock: clock)
            clock.advance(seconds: 90)
            #expect(await scheduler.tick() == .init())
            #expect(
                try await store.connection(tenantId: tenant.id, id: connection.id)?.nextRunAt
                    == F.start.adding(seconds: 3600))
            clock.advance(seconds: 3600)
            #expect(await scheduler.tick().queued == 1)
        }
    }

    @Test("two schedulers on two PostgreSQL replicas racing every slot queue exactly one run per slot")
    func postgresReplicasRace() async throws {
        try await StoragePostgres.withDatabase { url in
            try await StoragePostgres.withStore(url: url) { first in
                try await StoragePostgres.withStore(url: url) { second in
                    try await first.migrate()
                    try await Self.race(first, second)
                }
            }
        }
    }

    @Test("two schedulers on two SQLite connections to one file queue exactly one run per slot")
    func sqliteConnectionsRace() async throws {
        let directory = try TemporaryDirectory()
        let first = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        let second = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await first.migrate()
        try await Self.race(first, second)
        try await first.close()
        try await second.close()
    }

    /// 20 connections due every minute; for 5 slots, 4 ticks (2 per store) race; every connection gets exactly
    /// one run per slot.
    static func race(_ first: any ControlPlaneStore, _ second: any ControlPlaneStore) async throws {
        let clock = ManualClock()
        let tenant = F.tenant("acme")
        try await first.createTenant(tenant)
        var connections: [ConnectionRecord] = []
        for index in 0..<20 {
            connections.append(
                try await scheduledConnection(
                    first, tenant: tenant, name: "c\(index)", schedule: "* * * * *", clock: clock))
        }
        let schedulers = [scheduler(first, clock: clock), scheduler(second, clock: clock)]
        let slots = 5
        var totalQueued = 0
        for _ in 0..<slots {
            clock.advance(seconds: 60)
            totalQueued += await withTaskGroup(of: Int.self) { group in
                for index in 0..<4 {
                    let scheduler = schedulers[index % 2]
                    group.addTask { await scheduler.tick().queued }
                }
                return await group.reduce(0, +)
            }
            try await finishAll(first, tenant: tenant, clock: clock)
        }
        #expect(totalQueued == slots * connections.count)
        let runs = try await second.runs(tenantId: tenant.id, connectionId: nil, limit: 500)
        #expect(runs.count == slots * connections.count)
        for connection in connections {
            let times = runs.filter { $0.connectionId == connection.id }.map(\.createdAt)
            #expect(times.count == slots)
            #expect(Set(times).count == slots)
        }
    }

    // MARK: Recovery of interrupted ingestions

    @Test("an ingesting run whose lease expired is taken over once, then fails", arguments: StorageBackend.allCases)
    func recoversIngestingRuns(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            var run = F.run(connection, at: 0)
            run.status = .ingesting
            run.leaseId = 4
            run.attempt = 1
            run.leaseAgentId = "agent-1"
            run.leaseExpiresAt = F.time(100)
            try await store.createRun(run)
            var live = F.run(connection, at: 1)
            live.status = .ingesting
            live.leaseId = 1
            live.leaseExpiresAt = F.time(10_000)
            try await store.createRun(live)

            #expect(
                try await store.recoverIngestions(
                    now: F.time(100), expiredBefore: F.time(100), holdSeconds: 60, maximumRecoveries: 1, limit: 10
                )
                .isEmpty)
            let recovered = try await store.recoverIngestions(
                now: F.time(101), expiredBefore: F.time(101), holdSeconds: 60, maximumRecoveries: 1, limit: 10)
            #expect(recovered.map(\.id) == [run.id])
            #expect(recovered.first?.leaseId == 5)
            #expect(recovered.first?.status == .ingesting)
            #expect(recovered.first?.leaseExpiresAt == F.time(161))
            // Taken over: a second sweep (another replica) finds nothing until the new lease expires too.
            #expect(
                try await store.recoverIngestions(
                    now: F.time(150), expiredBefore: F.time(150), holdSeconds: 60, maximumRecoveries: 1, limit: 10
                )
                .isEmpty)
            // The stopped server's lease is fenced off.
            #expect(
                try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: 4, now: F.time(150)) {
                    $0.status = .succeeded
                } == nil)
            // Interrupted again, out of recoveries: failed with a reason, and returned finished.
            #expect(
                try await store.recoverIngestions(
                    now: F.time(200), expiredBefore: F.time(200), holdSeconds: 60, maximumRecoveries: 1, limit: 10
                ).map(\.status) == [.failed])
            let failed = try #require(try await store.run(tenantId: tenant.id, id: run.id))
            #expect(failed.status == .failed)
            #expect(failed.finishedAt == F.time(200))
            #expect(
                failed.error
                    == "the control plane stopped while ingesting this delivery 2 times; run the connection again")
            #expect(try await store.run(tenantId: tenant.id, id: live.id) == live)
        }
    }

    @Test(
        "an ingesting run with a cancellation pending is cancelled, not recovered, whether or not its server lives",
        arguments: StorageBackend.allCases)
    func cancelsIngestingRuns(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            func ingesting(at seconds: Int, leaseUntil expiry: Int) async throws -> RunRecord {
                var run = F.run(connection, at: seconds)
                run.status = .ingesting
                run.leaseId = 1
                run.attempt = 1
                run.leaseExpiresAt = F.time(expiry)
                try await store.createRun(run)
                return run
            }
            // Its server is gone (lease expired): the cancel ends it at once.
            let orphaned = try await ingesting(at: 0, leaseUntil: 50)
            let ended = try await store.requestCancel(
                tenantId: tenant.id, runId: orphaned.id, reason: "by admin", now: F.time(60))
            #expect(ended?.status == .cancelled)
            #expect(ended?.finishedAt == F.time(60))
            // Its server lives: the cancel is marked for that server's next renewal...
            let live = try await ingesting(at: 1, leaseUntil: 100)
            let marked = try await store.requestCancel(
                tenantId: tenant.id, runId: live.id, reason: "by admin", now: F.time(60))
            #expect(marked?.status == .ingesting)
            #expect(marked?.cancelRequested == true)
            // ...and should that server die before, recovery cancels it instead of ingesting it again.
            let changed = try await store.recoverIngestions(
                now: F.time(101), expiredBefore: F.time(101), holdSeconds: 60, maximumRecoveries: 2, limit: 10)
            #expect(changed.map(\.id) == [live.id])
            #expect(changed.first?.status == .cancelled)
            #expect(changed.first?.leaseId == 1)
            #expect(try await store.run(tenantId: tenant.id, id: live.id)?.cancelReason == "by admin")
        }
    }

    @Test(
        "a store that knows every ingestion was orphaned takes over runs whose lease has not run out yet",
        arguments: StorageBackend.allCases)
    func recoversEveryIngestionWhenOrphaned(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (_, connection) = try await F.seed(store)
            var run = F.run(connection, at: 0)
            run.status = .ingesting
            run.leaseId = 1
            run.attempt = 1
            run.leaseExpiresAt = F.time(1_000)
            try await store.createRun(run)
            #expect(
                try await store.recoverIngestions(
                    now: F.time(10), expiredBefore: F.time(10), holdSeconds: 60, maximumRecoveries: 2, limit: 10
                ).isEmpty)
            let recovered = try await store.recoverIngestions(
                now: F.time(10), expiredBefore: Timestamp(milliseconds: .max), holdSeconds: 60, maximumRecoveries: 2,
                limit: 10)
            #expect(recovered.map(\.leaseId) == [2])
            #expect(recovered.first?.leaseExpiresAt == F.time(70))
        }
    }
}
