// The two ControlPlaneStore implementations behind one helper, so the conformance suite runs every test against
// both: SQLite in a temporary file, PostgreSQL in a fresh database on the server named by
// OUTPOST_TEST_POSTGRES_URL (the tests fail, never skip, when it is missing).

import Foundation
import Logging
import OutpostProtocol
import OutpostTesting
import Testing

@testable import ControlPlane
@testable import ControlPlaneStorage

/// A storage backend under test.
enum StorageBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// Runs `body` with a freshly migrated, empty store, and removes the database afterwards.
    func withStore(_ body: (any ControlPlaneStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let directory = try TemporaryDirectory()
            let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
            try await store.migrate()
            try await body(store)
            try await store.close()
        case .postgres:
            try await StoragePostgres.withDatabase { url in
                try await StoragePostgres.withStore(url: url) { store in
                    try await store.migrate()
                    try await body(store)
                }
            }
        }
    }
}

/// Fresh PostgreSQL databases and running stores over them.
enum StoragePostgres {
    /// Creates an empty database, passes its URL (with the password), and drops it afterwards.
    static func withDatabase(_ body: (String) async throws -> Void) async throws {
        let server = try TestPostgres()
        let name = try server.createDatabase(prefix: "outpost_storage", loading: "")
        defer { server.dropDatabase(name) }
        var components = server.url
        components.path = "/" + name
        components.query = "sslmode=disable&pool_size=8"
        try await body(try #require(components.string))
    }

    /// Runs `body` with a store whose pool is running, then closes it and waits for the pool to stop.
    static func withStore(url: String, _ body: (PostgresControlPlaneStore) async throws -> Void) async throws {
        var logger = Logger(label: "outpost.test.storage")
        logger.logLevel = .error
        let store = try PostgresControlPlaneStore(url: url, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.runConnections() }
            do {
                try await body(store)
            } catch {
                try await store.close()
                throw error
            }
            try await store.close()
            try await group.waitForAll()
        }
    }
}

/// The migration versions a store has recorded.
func appliedMigrations(_ store: any ControlPlaneStore) async throws -> [Int] {
    switch store {
    case let store as SQLiteControlPlaneStore: try await store.appliedMigrations()
    case let store as PostgresControlPlaneStore: try await store.appliedMigrations()
    default: throw StorageError(.unavailable, "unknown store \(type(of: store))")
    }
}

/// Every migration version the store's backend defines, ascending: what a fully migrated store has recorded.
func allMigrationVersions(_ store: any ControlPlaneStore) -> [Int] {
    (store is PostgresControlPlaneStore ? PostgresMigrations.all : SQLiteMigrations.all).map(\.version)
}

/// Expects `body` to throw a `StorageError` with `code`.
func expectStorageError(
    _ code: StorageError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected StorageError \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as StorageError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected StorageError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Records with readable defaults; times count from a fixed instant so every test controls the clock.
enum StorageFixtures {
    /// 2025-01-01T00:00:00Z.
    static let start = Timestamp(milliseconds: 1_735_689_600_000)

    static func time(_ seconds: Int) -> Timestamp { start.adding(seconds: seconds) }

    static func tenant(_ name: String, at seconds: Int = 0) -> Tenant {
        Tenant(id: Identifier.make("ten"), name: name, createdAt: time(seconds))
    }

    static func key(_ tenant: Tenant, name: String = "ci", role: APIKey.Role = .agent, at seconds: Int = 0) -> APIKey {
        let hash = String(Identifier.make("h").dropFirst(2)) + String(Identifier.make("h").dropFirst(2))
        return APIKey(
            id: Identifier.make("key"), tenantId: tenant.id, name: name, role: role, hash: hash, prefix: "opk_ab12",
            createdAt: time(seconds))
    }

    static func agent(
        _ tenant: Tenant, id: String = "agent-1", name: String = "edge-1", at seconds: Int = 0
    )
        -> AgentRecord
    {
        AgentRecord(
            tenantId: tenant.id, id: id, name: name, version: "1.0.0", state: "idle", freeSlots: 2,
            runningLeases: 0, lastSeenAt: time(seconds))
    }

    static func connection(
        _ tenant: Tenant, name: String = "sales", pool: String = "default", at seconds: Int = 0
    )
        -> ConnectionRecord
    {
        ConnectionRecord(
            tenantId: tenant.id, id: Identifier.make("con"), name: name, sourceKind: "postgresql",
            sourceURL: "postgres://reader@db.internal:5432/\(name)",
            secrets: ["password": "aws-sm:prod/pg#password", "sslrootcert": "file:/etc/outpost/ca.pem"],
            filters: JobFilters(includeSchemas: ["public", "sales_*"], excludeTables: ["re:^tmp_"]),
            delivery: Delivery(
                mode: .relay, relay: RelayTarget(bucket: "acme-metadata", prefix: "outpost/", region: "eu-west-1")),
            pool: pool, schedule: "0 * * * *", createdAt: time(seconds), updatedAt: time(seconds))
    }

    static func run(_ connection: ConnectionRecord, at seconds: Int, maxAttempts: Int = 3) -> RunRecord {
        RunRecord(
            tenantId: connection.tenantId, id: Identifier.make("run"), connectionId: connection.id, status: .queued,
            attempt: 0, maxAttempts: maxAttempts, leaseId: 0, createdAt: time(seconds))
    }

    /// A tenant with one connection in `pool`, stored.
    static func seed(
        _ store: any ControlPlaneStore, pool: String = "default"
    ) async throws -> (
        Tenant, ConnectionRecord
    ) {
        let tenant = tenant("acme")
        try await store.createTenant(tenant)
        let connection = connection(tenant, pool: pool)
        try await store.createConnection(connection)
        return (tenant, connection)
    }
}
