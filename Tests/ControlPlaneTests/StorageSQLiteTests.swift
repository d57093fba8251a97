// What only the SQLite store has: the file it creates, and what happens after close.

import Foundation
import OutpostTesting
import Testing

@testable import ControlPlane

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
