internal import CivilTime
public import Logging
public import Metadata

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Runs one connector into an extraction folder: chunks, then the manifest.
///
/// The same sequence serves `outpost extract` and the agent's job process, so both produce identical files. When
/// the folder has a sealing key (the agent's encrypted spool), chunks and manifest are written sealed with it.
public struct Extraction: Sendable {
    public var connector: any Connector
    public var scope: ExtractionScope
    public var folder: ExtractionFolder
    public var maxChunkBytes: Int
    public var compressionLevel: Int

    public init(
        connector: any Connector, scope: ExtractionScope, folder: ExtractionFolder,
        maxChunkBytes: Int = MetadataFormat.defaultChunkBytes, compressionLevel: Int = 6
    ) {
        self.connector = connector
        self.scope = scope
        self.folder = folder
        self.maxChunkBytes = maxChunkBytes
        self.compressionLevel = compressionLevel
    }

    /// Extracts, writes the manifest, and returns it. On failure, removes the chunks it wrote.
    public func run(progress: ExtractionProgress, logger: Logger) async throws -> Manifest {
        let startedAt = Date()
        let writer = ChunkedRecordWriter(
            directory: folder.path, maxChunkBytes: maxChunkBytes, compressionLevel: compressionLevel,
            sealingKey: folder.sealingKey)
        let pipeline = RecordPipeline(next: writer, filters: scope.filters, progress: progress)
        let report: SourceReport
        let chunks: [ChunkedRecordWriter.Chunk]
        do {
            report = try await connector.extract(scope: scope, into: pipeline, logger: logger)
            chunks = try writer.finish()
        } catch {
            writer.discard()
            throw error
        }
        let manifest = Manifest(
            extractionId: UUID().uuidString.lowercased(),
            connection: scope.connection,
            source: report.source,
            connector: report.connector,
            startedAt: Self.timestamp(startedAt),
            finishedAt: Self.timestamp(Date()),
            filters: scope.filters.manifestFilters,
            files: chunks.map {
                Manifest.File(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            },
            counts: Dictionary(uniqueKeysWithValues: writer.counts.map { ($0.key.rawValue, $0.value) }),
            completeness: report.completeness)
        do {
            try folder.writeManifest(manifest)
        } catch {
            writer.discard()
            throw error
        }
        return manifest
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        RFC3339.format(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
