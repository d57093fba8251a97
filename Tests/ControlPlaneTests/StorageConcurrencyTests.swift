// Claims from several stores on one database at once: every run is leased exactly once and none is lost. Two
// PostgresControlPlaneStores are two replicas (two pools); two SQLiteControlPlaneStores on one file are two
// connections serialised by BEGIN IMMEDIATE.

import OutpostProtocol
import OutpostTesting
import Testing

@testable import ControlPlane
@testable import ControlPlaneStorage

@Suite("Storage concurrency")
struct StorageConcurrencyTests {
    typealias F = StorageFixtures
    static let runCount = 200
    static let claimers = 16

    @Test("16 claimers on two PostgreSQL replicas lease each of 200 runs exactly once")
    func postgresReplicasClaimEachRunOnce() async throws {
        try await StoragePostgres.withDatabase { url in
            try await StoragePostgres.withStore(url: url) { first in
                try await StoragePostgres.withStore(url: url) { second in
                    try await first.migrate()
                    try await Self.claimEverything(stores: [first, second])
                }
            }
        }
    }

    @Test("16 claimers on two SQLite connections to one file lease each of 200 runs exactly once")
    func sqliteConnectionsClaimEachRunOnce() async throws {
        let directory = try TemporaryDirectory()
        let first = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        let second = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await first.migrate()
        try await Self.claimEverything(stores: [first, second])
        try await first.close()
        try await second.close()
    }

    @Test("PostgreSQL replicas migrating at the same moment apply each migration once")
    func postgresReplicasMigrateTogether() async throws {
        try await StoragePostgres.withDatabase { url in
            try await StoragePostgres.withStore(url: url) { first in
                try await StoragePostgres.withStore(url: url) { second in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for store in [first, second, first, second] { group.addTask { try await store.migrate() } }
                        try await group.waitForAll()
                    }
                    #expect(try await first.appliedMigrations() == PostgresMigrations.all.map(\.version))
                }
            }
        }
    }

    @Test("SQLite stores migrating one file at the same moment apply each migration once")
    func sqliteStoresMigrateTogether() async throws {
        let directory = try TemporaryDirectory()
        let stores = try (0..<4).map { _ in try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { try await store.migrate() } }
            try await group.waitForAll()
        }
        #expect(try await stores[0].appliedMigrations() == SQLiteMigrations.all.map(\.version))
    }

    /// Seeds 200 queued runs through the first store, then lets 16 tasks spread over `stores` claim random batches
    /// until the queue is empty, and checks that the leases partition the runs.
    static func claimEverything(stores: [any ControlPlaneStore]) async throws {
        let (tenant, connection) = try await F.seed(stores[0])
        var runIds: Set<String> = []
        for index in 0..<runCount {
            let run = F.run(connection, at: index)
            try await stores[0].createRun(run)
            runIds.insert(run.id)
        }

        let leases = try await withThrowingTaskGroup(of: [RunRecord].self) { group in
            for claimer in 0..<claimers {
                let store = stores[claimer % stores.count]
                group.addTask {
                    var leased: [RunRecord] = []
                    while true {
                        let batch = try await store.claimRuns(
                            tenantId: tenant.id, agentId: "agent-\(claimer)", pools: ["default"],
                            limit: Int.random(in: 1...8), ttlSeconds: 600, now: F.time(runCount))
                        if batch.isEmpty { return leased }
                        leased += batch
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }

        #expect(leases.count == runCount)
        #expect(Set(leases.map(\.id)) == runIds)
        #expect(leases.allSatisfy { $0.leaseId == 1 && $0.attempt == 1 && $0.status == .leased })
        let stored = try await stores[1].runs(tenantId: tenant.id, connectionId: nil, limit: runCount * 2)
        #expect(stored.count == runCount)
        #expect(stored.allSatisfy { $0.status == .leased && $0.leaseId == 1 })
        // What each claimer was told matches what was stored.
        let byId = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0) })
        #expect(leases.allSatisfy { byId[$0.id] == $0 })
    }
}
