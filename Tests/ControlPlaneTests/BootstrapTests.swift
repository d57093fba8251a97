import ControlPlane
import ControlPlaneStorage
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

@Suite("Bootstrap")
struct BootstrapTests {
    @Test func theFirstStartCreatesATenantAndAnAdminKeyOnce() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        let delivered = DeliveredKeys()
        let key = try #require(try await Bootstrap.run(store: store, deliver: delivered.add))
        let text = try #require(delivered.keys.first)
        #expect(key.role == .admin)
        #expect(key.hash == APIKey.hash(of: text))
        let stored = try #require(try await store.key(hash: APIKey.hash(of: text)))
        #expect(stored.tenantId == (try await store.firstTenant())?.id)

        #expect(try await Bootstrap.run(store: store, deliver: delivered.add) == nil)
        #expect(delivered.keys.count == 1)
        try await store.close()
    }

    @Test func aKeyThatCouldNotBeDeliveredIsNeverStored() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        struct Unwritable: Error {}
        await #expect(throws: Unwritable.self) { try await Bootstrap.run(store: store) { _ in throw Unwritable() } }
        let tenant = try #require(try await store.firstTenant())
        #expect(try await store.keys(tenantId: tenant.id).isEmpty)
        // The next start tries again.
        #expect(try await Bootstrap.run(store: store) { _ in } != nil)
        try await store.close()
    }

    @Test func replicasStartingTogetherOnOnePostgreSQLCreateOneTenantAndOneAdminKey() async throws {
        try await StoragePostgres.withDatabase { url in
            try await StoragePostgres.withStore(url: url) { first in
                try await StoragePostgres.withStore(url: url) { second in
                    try await first.migrate()
                    try await Self.bootstrapTogether([first, second])
                }
            }
        }
    }

    @Test func serversStartingTogetherOnOneSQLiteFileCreateOneTenantAndOneAdminKey() async throws {
        let directory = try TemporaryDirectory()
        let first = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        let second = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await first.migrate()
        try await Self.bootstrapTogether([first, second])
        try await first.close()
        try await second.close()
    }

    /// Runs the bootstrap many times at once through `stores` (one database): exactly one run may create the tenant
    /// and deliver a key, and every other run must find them.
    static func bootstrapTogether(_ stores: [any ControlPlaneStore]) async throws {
        let delivered = DeliveredKeys()
        let stored = try await withThrowingTaskGroup(of: APIKey?.self) { group in
            for index in 0..<16 {
                let store = stores[index % stores.count]
                group.addTask {
                    try await Bootstrap.run(store: store, deliver: delivered.add)
                }
            }
            return try await group.reduce(into: [APIKey]()) { if let key = $1 { $0.append(key) } }
        }
        let keys = delivered.keys
        #expect(keys.count == 1, "\(keys.count) admin keys were delivered")
        #expect(stored.count == 1, "\(stored.count) admin keys were stored")
        let tenant = try #require(try await stores[0].firstTenant())
        #expect(try await stores[1].firstTenant() == tenant)
        #expect(try await stores[0].keys(tenantId: tenant.id).map(\.id) == stored.map(\.id))
        for key in keys {
            #expect(try await stores[1].key(hash: APIKey.hash(of: key))?.tenantId == tenant.id)
        }
    }
}

/// The key texts a bootstrap delivered, from any task.
private final class DeliveredKeys: Sendable {
    private let delivered = Mutex<[String]>([])

    var keys: [String] { delivered.withLock { $0 } }

    @Sendable func add(_ key: String) {
        delivered.withLock { $0.append(key) }
    }
}
