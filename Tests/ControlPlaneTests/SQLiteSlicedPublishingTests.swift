// SQLite publishes a delivery as a new catalog version in short transactions and switches to it at once: other
// calls run between the slices, and readers see the old catalog or the new one, never a mix.

import Foundation
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

@testable import ControlPlane
@testable import ControlPlaneStorage

@Suite("SQLite publishing in slices")
struct SQLiteSlicedPublishingTests {
    typealias F = StorageFixtures
    typealias C = CatalogFixtures

    /// `count` tables in schema `public`, each body naming `round` as its version; round 2 leaves out every third table of round 1
    /// and adds as many new ones.
    static func tables(count: Int, round: Int) -> [StagedAsset] {
        let indexes = round == 1 ? Array(0..<count) : (0..<count).filter { $0 % 3 != 0 } + (count..<(count + count / 3))
        return [C.database(), C.schema("public")]
            + indexes.map { C.table("t\($0)", version: round) }
    }

    /// The tables `children` lists, as name → body.
    static func visible(
        _ store: SQLiteControlPlaneStore, _ connection: ConnectionRecord
    ) async throws -> [String: String] {
        let children = try await store.children(
            tenantId: connection.tenantId, connectionId: connection.id, parent: C.publicSchema)
        return Dictionary(
            children.map { ($0.qualifiedName, String(decoding: $0.body, as: UTF8.self)) },
            uniquingKeysWith: { a, _ in a })
    }

    static func expected(_ assets: [StagedAsset]) -> [String: String] {
        Dictionary(
            assets.filter { $0.kind == "table" }.map { ($0.qualifiedName, String(decoding: $0.body, as: UTF8.self)) },
            uniquingKeysWith: { a, _ in a })
    }

    static func withSQLiteStore(_ body: (SQLiteControlPlaneStore) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
        try await store.migrate()
        try await body(store)
        try await store.close()
    }

    @Test("a slice grows while transactions fit the time budget and shrinks in proportion when one overruns")
    func sliceSize() {
        var slice = SliceSize()
        slice.record(SliceSize.budget / 4)
        #expect(slice.rows == 2000)
        slice.record(SliceSize.budget * 4)
        #expect(slice.rows == 500)
        slice.record(SliceSize.budget * 2)
        #expect(slice.rows == 250)
        slice.record(.seconds(10))
        #expect(slice.rows == SliceSize.minimum)
        for _ in 0..<20 { slice.record(.zero) }
        #expect(slice.rows == SliceSize.maximum)
    }

    @Test("calls made while a large delivery publishes run between its slices and see the old catalog or the new one")
    func readersSeeOneVersion() async throws {
        try await Self.withSQLiteStore { store in
            let (_, connection) = try await F.seed(store)
            let count = 12_000
            let first = Self.tables(count: count, round: 1)
            let second = Self.tables(count: count, round: 2)
            try await C.publish(store, connection, first, at: 10)
            let run = try await C.run(store, connection, at: 20)
            try await store.stage(tenantId: connection.tenantId, runId: run.id, assets: second)

            let publishing = Task {
                try await store.publish(
                    tenantId: connection.tenantId, connectionId: connection.id, runId: run.id, scope: C.scope(),
                    now: F.time(21))
            }
            while await store.publishingConnections.isEmpty { await Task.yield() }
            var seen: [[String: String]] = []
            while await !store.publishingConnections.isEmpty {
                seen.append(try await Self.visible(store, connection))
            }
            let summary = try await publishing.value

            let old = Self.expected(first)
            let new = Self.expected(second)
            #expect(
                summary.created == count / 3 && summary.deleted == count / 3 && summary.updated == count - count / 3)
            #expect(try await Self.visible(store, connection) == new)
            // Reads got in while the publish was under way: it never held the store for the whole delivery.
            #expect(seen.count >= 2, "\(seen.count) reads during the publish")
            #expect(seen.first == old)
            let mixed = seen.filter { $0 != old && $0 != new }
            #expect(mixed.isEmpty, "\(mixed.count) of \(seen.count) reads saw a mix of the two versions")
            // Replaced versions are gone once the new one is visible.
            #expect(
                try await store.assetRows(tenantId: connection.tenantId, connectionId: connection.id) == second.count)
        }
    }

    @Test("a publish stopped partway leaves the catalog as it was, and the next publish cleans up after it")
    func interruptedPublish() async throws {
        try await Self.withSQLiteStore { store in
            let (_, connection) = try await F.seed(store)
            let count = 8_000
            let first = Self.tables(count: count, round: 1)
            try await C.publish(store, connection, first, at: 10)
            let stopped = try await C.run(store, connection, at: 20)
            try await store.stage(
                tenantId: connection.tenantId, runId: stopped.id, assets: Self.tables(count: count, round: 2))
            let publishing = Task {
                try await store.publish(
                    tenantId: connection.tenantId, connectionId: connection.id, runId: stopped.id, scope: C.scope(),
                    now: F.time(21))
            }
            while await store.publishingConnections.isEmpty { await Task.yield() }
            // One slice in: rows of the unpublished version exist beside the visible ones.
            while try await store.assetRows(tenantId: connection.tenantId, connectionId: connection.id) == first.count {
                await Task.yield()
            }
            publishing.cancel()
            await #expect(throws: CancellationError.self) { _ = try await publishing.value }
            #expect(try await Self.visible(store, connection) == Self.expected(first))
            #expect(try await store.assetRows(tenantId: connection.tenantId, connectionId: connection.id) > first.count)

            // The next run publishes over a clean slate: its catalog exactly, nothing of the stopped one.
            let third =
                [C.database(), C.schema("public")]
                + (0..<(count / 2)).map { C.table("n\($0)", version: 3) }
            try await C.publish(store, connection, third, at: 30)
            #expect(try await Self.visible(store, connection) == Self.expected(third))
            #expect(
                try await store.assetRows(tenantId: connection.tenantId, connectionId: connection.id) == third.count)
        }
    }
}
