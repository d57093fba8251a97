internal import Connectors
internal import Crypto
internal import Foundation
public import Logging
public import Metadata

/// Verifies a run's delivery and publishes it into the catalog as the connection's new snapshot.
///
/// Every file is streamed from its `DeliverySource` once: its SHA-256, size, uncompressed size and record count are
/// checked against the manifest while each line is decoded as a v1 record (that is the validation) and staged
/// in batches. Only when every file has passed is the staging published, in one transaction, with deletions
/// restricted to the scopes the manifest marks complete. A corrupt, truncated or invalid delivery throws an
/// `IngestionError` saying which file and why, and publishes nothing. Memory is one line plus one batch.
public struct Ingestor<Catalog: CatalogRepository, Blobs: BlobStore>: Sendable {
    public let catalog: Catalog
    public let blobs: Blobs
    public let logger: Logger
    public let batchSize: Int

    public init(catalog: Catalog, blobs: Blobs, logger: Logger, batchSize: Int = 1000) {
        self.catalog = catalog
        self.blobs = blobs
        self.logger = logger
        self.batchSize = batchSize
    }

    /// The blob key of a delivered file.
    public static func blobKey(tenantId: String, runId: String, file: String) -> String {
        DeliveryBlobKey.make(tenantId: tenantId, runId: runId, file: file)
    }

    /// What an ingestion read and changed.
    public struct Result: Sendable {
        public var manifest: Manifest
        public var summary: PublishSummary
    }

    /// Ingests a direct delivery: the files the agent uploaded into the blob store under the run.
    public func ingest(
        tenantId: String, runId: String, connectionId: String, connectionName: String, now: Timestamp
    ) async throws -> Result {
        try await ingest(
            from: BlobDeliverySource(blobs: blobs, tenantId: tenantId, runId: runId), tenantId: tenantId,
            runId: runId, connectionId: connectionId, connectionName: connectionName, now: now)
    }

    /// Ingests the delivery `source` reads (the blob store for direct ingestion, the customer's bucket for relay),
    /// with the same verification whichever it is.
    public func ingest(
        from source: some DeliverySource, tenantId: String, runId: String, connectionId: String,
        connectionName: String, now: Timestamp
    ) async throws -> Result {
        let manifest = try await readManifest(from: source, connectionName: connectionName)
        try await catalog.clearStaging(tenantId: tenantId, runId: runId)
        do {
            var total = 0
            for file in manifest.files {
                total += try await stage(
                    file: file, from: source, tenantId: tenantId, runId: runId, connectionName: connectionName)
            }
            guard total == manifest.recordCount else {
                throw IngestionError("the manifest counts \(manifest.recordCount) records but the files hold \(total)")
            }
            let summary = try await catalog.publish(
                tenantId: tenantId, connectionId: connectionId, runId: runId, scope: Self.scope(of: manifest),
                now: now)
            logger.info(
                "ingestion.published",
                metadata: [
                    "run.id": "\(runId)", "ingestion.created": "\(summary.created)",
                    "ingestion.updated": "\(summary.updated)", "ingestion.deleted": "\(summary.deleted)",
                ])
            return Result(manifest: manifest, summary: summary)
        } catch {
            try? await catalog.clearStaging(tenantId: tenantId, runId: runId)
            throw error
        }
    }

    private func readManifest(from source: some DeliverySource, connectionName: String) async throws -> Manifest {
        var bytes: [UInt8] = []
        do {
            try await source.read(file: MetadataFormat.manifestFileName) { piece in
                bytes += piece
                guard bytes.count <= 64 * 1024 * 1024 else {
                    throw IngestionError("manifest.json is larger than 64 MiB")
                }
            }
        } catch let error as BlobError where error.code == .notFound {
            throw IngestionError("the delivery has no manifest.json")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw IngestionError("manifest.json is not a valid v1 manifest: \(error)")
        }
        guard manifest.formatVersion.split(separator: ".").first == "1" else {
            throw IngestionError("manifest format version \(manifest.formatVersion) is not supported (1.x is)")
        }
        guard manifest.connection == connectionName else {
            throw IngestionError("the manifest is for connection '\(manifest.connection)', not '\(connectionName)'")
        }
        var seen = Set<String>()
        for file in manifest.files {
            guard !file.path.isEmpty, !file.path.contains("/"), !file.path.hasPrefix("."),
                file.path != MetadataFormat.manifestFileName, seen.insert(file.path).inserted
            else {
                throw IngestionError("the manifest lists an invalid or repeated file '\(file.path)'")
            }
        }
        return manifest
    }

    /// Streams one file into staging; returns its record count.
    private func stage(
        file: Manifest.File, from source: some DeliverySource, tenantId: String, runId: String,
        connectionName: String
    ) async throws
        -> Int
    {
        let lines = try GzipLineDecoder()
        let decoder = JSONDecoder()
        var hasher = SHA256()
        var batch: [StagedAsset] = []
        var records = 0
        func take(_ line: [UInt8]) throws {
            records += 1
            let record: MetadataRecord
            do {
                record = try decoder.decode(MetadataRecord.self, from: Data(line))
            } catch {
                throw IngestionError("\(file.path): record \(records) is not a valid v1 record: \(error)")
            }
            guard record.qualifiedName.parts.first == connectionName else {
                throw IngestionError(
                    "\(file.path): record \(records) is named outside connection '\(connectionName)'")
            }
            batch.append(Self.asset(record, body: line))
        }
        do {
            try await source.read(file: file.path) { piece in
                hasher.update(data: piece)
                guard lines.compressedBytes + Int64(piece.count) <= file.bytes else {
                    throw IngestionError("\(file.path) is larger than the manifest says (\(file.bytes) bytes)")
                }
                try lines.feed(piece, take)
                if batch.count >= batchSize {
                    try await catalog.stage(tenantId: tenantId, runId: runId, assets: batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try lines.finish(take)
            try ChunkVerification.check(
                path: file.path, expected: file, bytes: lines.compressedBytes, sha256: Hex.encode(hasher.finalize()),
                uncompressedBytes: lines.uncompressedBytes, records: records)
        } catch let error as BlobError where error.code == .notFound {
            throw IngestionError("\(file.path) listed in the manifest was never delivered")
        } catch let error as MetadataError {
            throw IngestionError("\(file.path): \(error.message)")
        } catch let error as BlobError {
            throw IngestionError("\(file.path) could not be read: \(error.message)")
        }
        if !batch.isEmpty { try await catalog.stage(tenantId: tenantId, runId: runId, assets: batch) }
        return records
    }

    /// The catalog row of a record: identity, hierarchy and the JSON line itself.
    static func asset(_ record: MetadataRecord, body: [UInt8]) -> StagedAsset {
        let qualifiedName = record.qualifiedName.description
        let name: String
        let parent: QualifiedName?
        let database: QualifiedName
        switch record {
        case .database(let value):
            (name, parent, database) = (value.name, nil, value.qualifiedName)
        case .schema(let value):
            (name, parent, database) = (value.name, value.database, value.database)
        case .relation(let value):
            (name, parent, database) = (value.name, value.schema, value.database)
        case .column(let value):
            (name, parent, database) = (value.name, value.table, value.database)
        case .constraint(let value):
            (name, parent, database) = (value.name, value.table, value.database)
        case .index(let value):
            (name, parent, database) = (value.name, value.table, value.database)
        case .lineageEdge(let value):
            (name, parent, database) = (value.name, value.downstream, value.database)
        case .enumType(let value):
            (name, parent, database) = (value.name, value.schema, value.database)
        case .domainType(let value):
            (name, parent, database) = (value.name, value.schema, value.database)
        case .function(let value):
            (name, parent, database) = (value.name, value.schema, value.database)
        }
        return StagedAsset(
            kind: record.kind.rawValue, qualifiedName: qualifiedName, name: name, parent: parent?.description,
            schema: record.schemaName?.description, database: database.description, body: body)
    }

    /// The deletion scope a manifest allows: complete schemas and databases, minus what its filters excluded.
    static func scope(of manifest: Manifest) -> PublishScope {
        let filters = manifest.filters
        let excludedKinds = Set(filters.excludeKinds)
        // The extractor's own admission rule, with the patterns the manifest recorded (unparseable ones ignored).
        let compile = { (patterns: [String]) in patterns.compactMap { try? NamePattern($0) } }
        var admitted = ExtractionFilters()
        admitted.includeDatabases = compile(filters.includeDatabases)
        admitted.excludeDatabases = compile(filters.excludeDatabases)
        admitted.includeSchemas = compile(filters.includeSchemas)
        admitted.excludeSchemas = compile(filters.excludeSchemas)
        admitted.includeTables = compile(filters.includeTables)
        admitted.excludeTables = compile(filters.excludeTables)
        let scopeFilters = admitted
        let complete = manifest.completeness.filter(\.complete)
        return PublishScope(
            completeSchemas: Set(complete.filter { $0.schema != nil }.map(\.qualifiedName.description)),
            completeDatabases: Set(complete.filter { $0.schema == nil }.map(\.qualifiedName.description)),
            outOfScope: { kind, qualifiedName in
                if excludedKinds.contains(kind) { return true }
                guard let parts = try? QualifiedName(parsing: qualifiedName).parts, parts.count >= 2 else {
                    return true
                }
                // parts: connection, database, schema, relation, …
                if !scopeFilters.admitsDatabase(parts[1]) { return true }
                if parts.count >= 3, !scopeFilters.admitsSchema(parts[2]) { return true }
                // A marker part (`~type`, `~function`) is never escaped; an identifier's `~` always is, so the
                // rendered text tells them apart where the parsed parts cannot.
                let rendered = qualifiedName.split(separator: "/", omittingEmptySubsequences: false)
                let isMarker = rendered.count >= 4 && QualifiedName.Marker(rawValue: String(rendered[3])) != nil
                if parts.count >= 4, !isMarker, !scopeFilters.admitsTable(parts[3]) {
                    return true
                }
                return false
            })
    }
}

/// Why a delivery was refused; the run fails with this message, which names the file and never a secret.
public struct IngestionError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
