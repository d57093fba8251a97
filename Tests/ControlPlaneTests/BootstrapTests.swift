import ControlPlane
import OutpostTesting
import Testing

@Suite("Bootstrap")
struct BootstrapTests {
    @Test func theFirstStartCreatesATenantAndAnAdminKeyOnce() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        var delivered: String?
        let key = try #require(try await Bootstrap.run(store: store) { delivered = $0 })
        let text = try #require(delivered)
        #expect(key.role == .admin)
        #expect(key.hash == APIKey.hash(of: text))
        let stored = try #require(try await store.key(hash: APIKey.hash(of: text)))
        #expect(stored.tenantId == (try await store.firstTenant())?.id)

        var again = false
        #expect(try await Bootstrap.run(store: store) { _ in again = true } == nil)
        #expect(!again)
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
}
