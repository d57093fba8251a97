// How the ingestor hands a delivery to the catalog: in bounded batches, whatever the size of the pieces the blob
// store reads, and over several files at once.

import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import Metadata
import OutpostTesting
import Synchronization
import Testing

/// The real store as the ingestor's catalog, recording the size of every batch staged on the way through.
final class BatchRecordingCatalog: CatalogRepository {
    let store: any ControlPlaneStore
    private let sizes = Mutex<[Int]>([])

    init(_ store: any ControlPlaneStore) {
        self.store = store
    }

    var batchSizes: [Int] { sizes.withLock { $0 } }

    func clearStaging(tenantId: String, runId: String) async throws {
        try await store.clearStaging(tenantId: tenantId, runId: runId)
    }

    func clearAbandonedStaging() async throws -> Int {
        try await store.clearAbandonedStaging()
    }

    func stage(tenantId: String, runId: String, assets: [StagedAsset]) async throws {
        sizes.withLock { $0.append(assets.count) }
        try await store.stage(tenantId: tenantId, runId: runId, assets: assets)
    }

    func publish(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, now: Timestamp
    ) async throws -> PublishSummary {
        try await store.publish(tenantId: tenantId, connectionId: connectionId, runId: runId, scope: scope, now: now)
    }

    func listAssets(tenantId: String, query: CatalogQuery) async throws -> CatalogPage {
        try await store.listAssets(tenantId: tenantId, query: query)
    }

    func assetFacets(
        tenantId: String, query: CatalogQuery, limit: Int, dimensions: Set<CatalogFacets.Dimension>
    ) async throws -> CatalogFacets {
        try await store.assetFacets(tenantId: tenantId, query: query, limit: limit, dimensions: dimensions)
    }

    func childCounts(
        tenantId: String, connectionId: String, parents: [String]
    ) async throws -> [String: [String: Int]] {
        try await store.childCounts(tenantId: tenantId, connectionId: connectionId, parents: parents)
    }

    func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws -> CatalogAsset? {
        try await store.asset(tenantId: tenantId, connectionId: connectionId, kind: kind, qualifiedName: qualifiedName)
    }

    func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset] {
        try await store.children(tenantId: tenantId, connectionId: connectionId, parent: parent)
    }
}

@Suite("Ingestor batching")
struct IngestorBatchingTests {
    @Test(
        "a chunk read in one piece is staged in batches of at most batchSize, and all of it is published",
        arguments: StorageBackend.allCases)
    func batchesStayBounded(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await StorageFixtures.seed(store)
            let run = try await CatalogFixtures.run(store, connection, at: 1)
            let directory = try TemporaryDirectory()
            let path = directory.path + "/extraction"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let folder = ExtractionFolder(path: path)
            // Chunks of some 7,000 tables: compressed, each is far smaller than a blob store segment (1 MiB), so the
            // blob store hands each over in a single piece.
            var records = [
                CatalogRecords.database(connection.name, "db"), CatalogRecords.schema(connection.name, "db", "s"),
            ]
            records += (0..<30_000).map { CatalogRecords.table(connection.name, "db", "s", "t\($0)") }
            let writer = ChunkedRecordWriter(directory: folder.path, maxChunkBytes: 1_000_000)
            for record in records { try writer.write(record) }
            let chunks = try writer.finish()
            #expect(chunks.count >= 3)
            #expect(chunks.allSatisfy { $0.bytes < 1_048_576 })
            try DeliveryWriter.writeManifest(
                files: chunks.map {
                    Manifest.File(
                        path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                        records: $0.records)
                },
                counts: [:], connection: connection.name,
                completeness: [CatalogRecords.completeness(connection.name, "db", "s")], into: folder)
            let blobs = try LocalBlobStore(
                root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
            for file in try DeliveredFile.all(in: folder) {
                _ = try await blobs.put(
                    key: DeliveryBlobKey.make(tenantId: tenant.id, runId: run.id, file: file.path),
                    from: Pieces(pieces: [file.bytes]))
            }

            let catalog = BatchRecordingCatalog(store)
            let ingestor = Ingestor(
                catalog: catalog, blobs: blobs, logger: Logger(label: "outpost.test.ingestor"), batchSize: 100)
            let result = try await ingestor.ingest(
                tenantId: tenant.id, runId: run.id, connectionId: connection.id, connectionName: connection.name,
                now: StorageFixtures.time(2))

            #expect(result.summary.created == records.count)
            let sizes = catalog.batchSizes
            #expect(sizes.reduce(0, +) == records.count)
            // Every batch holds at most batchSize assets (before, a chunk read in one piece was staged as one
            // batch of its thousands of records).
            #expect(
                (sizes.max() ?? 0) <= 100,
                "largest batch \(sizes.max() ?? 0) of \(sizes.count), chunks \(chunks.map(\.records))")
        }
    }
}
