// What only the SQLite store has: the file it creates, and what happens after close.

import Foundation
import OutpostTesting
import Testing

@testable import ControlPlane
@testable import ControlPlaneStorage

@Suite("Storage SQLite file")
struct StorageSQLiteTests {
    @Test("init(path:) creates a missing database file readable by its owner only")
    func createsPrivateFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/outpost.sqlite"
        let store = try SQLiteControlPlaneStore(path: path)
        try await store.migrate()
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600)
        let walMode = try #require(
            FileManager.default.attributesOfItem(atPath: path + "-wal")[.posixPermissions] as? Int)
        #expect(walMode & 0o077 == 0)
        try await store.close()
    }

    @Test("the database runs in WAL mode with foreign keys enforced")
    func connectionSettings() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        let settings = try await store.settings()
        #expect(settings.journalMode == "wal")
        #expect(settings.foreignKeys)
        #expect(settings.synchronous == 1)
    }

    @Test("the write-ahead log is checkpointed off the commit path, and its file cut back after large writes")
    func backgroundCheckpoints() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/outpost.sqlite"
        let store = try SQLiteControlPlaneStore(path: path)
        try await store.migrate()
        let (tenant, connection) = try await StorageFixtures.seed(store)
        let run = try await CatalogFixtures.run(store, connection, at: 1)
        // Some 80 MB through the log in 40 commits; SQLite's own automatic checkpoint is off (the commit hook
        // replaces it), so only the background checkpointer keeps the log from holding all of it.
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 2000)
        for batch in 0..<40 {
            let assets = (0..<1000).map { index in
                var asset = CatalogFixtures.table("t\(batch)_\(index)")
                asset.body = body
                return asset
            }
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: assets)
        }
        try await store.clearStaging(tenantId: tenant.id, runId: run.id)
        // The log starts over (and is truncated to `journal_size_limit`) at the first write after a checkpoint
        // that copied all of it: small writes until then, for up to a minute.
        let deadline = ContinuousClock.now + .seconds(60)
        var walBytes = Int.max
        while ContinuousClock.now < deadline {
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: [CatalogFixtures.table("small")])
            try await store.clearStaging(tenantId: tenant.id, runId: run.id)
            walBytes = try #require(FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
            if walBytes <= 64 * 1024 * 1024 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(walBytes <= 64 * 1024 * 1024, "the log file holds \(walBytes) bytes")
        try await store.close()
    }

    @Test("a path in a missing directory fails with a clear unavailable error")
    func missingDirectory() async throws {
        let directory = try TemporaryDirectory()
        #expect(throws: StorageError.self) {
            try SQLiteControlPlaneStore(path: directory.path + "/missing/outpost.sqlite")
        }
    }

    @Test("calls after close() fail as unavailable")
    func closed() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        try await store.close()
        await expectStorageError(.unavailable) { _ = try await store.tenant(id: "ten_x") }
    }
}

extension SQLiteControlPlaneStore {
    /// The pragmas the store sets, read back.
    func settings() throws -> (journalMode: String, foreignKeys: Bool, synchronous: Int) {
        let journal = try database.queryFirst("PRAGMA journal_mode", []) { $0.text(0) }
        let foreignKeys = try database.queryFirst("PRAGMA foreign_keys", []) { $0.bool(0) }
        let synchronous = try database.queryFirst("PRAGMA synchronous", []) { $0.int(0) }
        return (journal ?? "", foreignKeys ?? false, synchronous ?? -1)
    }
}
