public import ControlPlaneStorage
internal import Crypto
internal import Foundation
public import Logging
public import Metadata

/// Verifies a run's delivery and publishes it into the catalog as the connection's new snapshot.
///
/// Every file is streamed from its `DeliverySource` once: its SHA-256, size, uncompressed size and record count are
/// checked against the manifest while each line is decoded as a v1 record (that is the validation) and staged
/// in batches. Only when every file has passed is the staging published, in one transaction, with deletions
/// restricted to the scopes the manifest marks complete; the staging is left for the caller to clear once it has
/// recorded the run's outcome. A corrupt, truncated or invalid delivery throws an
/// `IngestionError` saying which file and why, and publishes nothing. Memory is bounded per file being read by
/// the records of one compressed slice (`sliceBytes`) plus two batches, however large the files and the pieces
/// their source yields.
public struct Ingestor<Catalog: CatalogRepository, Blobs: BlobStore>: Sendable {
    public let catalog: Catalog
    public let blobs: Blobs
    public let logger: Logger
    public let batchSize: Int

    public init(catalog: Catalog, blobs: Blobs, logger: Logger, batchSize: Int = 5000) {
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
            let clock = ContinuousClock()
            let began = clock.now
            let total = try await stageFiles(
                of: manifest, from: source, tenantId: tenantId, runId: runId, connectionName: connectionName)
            guard total == manifest.recordCount else {
                throw IngestionError("the manifest counts \(manifest.recordCount) records but the files hold \(total)")
            }
            let staged = clock.now
            let summary = try await catalog.publish(
                tenantId: tenantId, connectionId: connectionId, runId: runId, scope: Self.scope(of: manifest),
                now: now)
            logger.info(
                "ingestion.published",
                metadata: [
                    "run.id": "\(runId)", "ingestion.created": "\(summary.created)",
                    "ingestion.updated": "\(summary.updated)", "ingestion.deleted": "\(summary.deleted)",
                    "ingestion.records": "\(total)",
                    "ingestion.staging_ms": "\(Self.milliseconds(staged - began))",
                    "ingestion.publish_ms": "\(Self.milliseconds(clock.now - staged))",
                ])
            return Result(manifest: manifest, summary: summary)
        } catch {
            try? await catalog.clearStaging(tenantId: tenantId, runId: runId)
            throw error
        }
    }

    /// Stages every file of the manifest; returns the records staged.
    ///
    /// Two files are decoded at once, and within each file one batch is written to staging while the next is
    /// decoded, so decoding (the larger cost) and the database's inserts keep both cores busy. Memory stays
    /// bounded: at most two batches per file being read. The staging area is a set, so the order in which
    /// batches of different files arrive does not matter; a failure anywhere cancels the rest.
    private func stageFiles(
        of manifest: Manifest, from source: some DeliverySource, tenantId: String, runId: String,
        connectionName: String
    ) async throws -> Int {
        // A file of a later 1.x may hold kinds this control plane does not know yet: they are skipped.
        let skipsUnknownKinds = MetadataFormat.isLaterMinorVersion(manifest.formatVersion)
        return try await withThrowingTaskGroup(of: Int.self) { files in
            var pending = manifest.files.makeIterator()
            for _ in 0..<Self.filesAtOnce {
                guard let file = pending.next() else { break }
                files.addTask {
                    try await self.stage(
                        file: file, from: source, tenantId: tenantId, runId: runId, connectionName: connectionName,
                        skipsUnknownKinds: skipsUnknownKinds)
                }
            }
            var total = 0
            while let records = try await files.next() {
                total += records
                if let file = pending.next() {
                    files.addTask {
                        try await self.stage(
                            file: file, from: source, tenantId: tenantId, runId: runId,
                            connectionName: connectionName, skipsUnknownKinds: skipsUnknownKinds)
                    }
                }
            }
            return total
        }
    }

    /// How many compressed bytes are decoded before the batches they filled are written: what bounds memory
    /// whatever the size of the pieces a delivery source yields (gzip inflates at most about 1,000-fold).
    static var sliceBytes: Int { 16 * 1024 }

    /// How many files are decoded at once.
    static var filesAtOnce: Int { 2 }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
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

    /// Streams one file into staging; returns its record count. One batch is written while the next is decoded.
    private func stage(
        file: Manifest.File, from source: some DeliverySource, tenantId: String, runId: String,
        connectionName: String, skipsUnknownKinds: Bool
    ) async throws -> Int {
        let catalog = self.catalog
        return try await withThrowingTaskGroup(of: Void.self) { group in
            var writing = false
            func write(_ assets: [StagedAsset]) async throws {
                if writing { try await group.next() }
                group.addTask { try await catalog.stage(tenantId: tenantId, runId: runId, assets: assets) }
                writing = true
            }
            let records = try await decode(
                file: file, from: source, connectionName: connectionName, skipsUnknownKinds: skipsUnknownKinds,
                write: write)
            try await group.waitForAll()
            return records
        }
    }

    /// Streams one file, verifying it against the manifest, and hands its assets to `write` in batches; returns
    /// its record count (records of kinds skipped as unknown included, as the manifest counts them).
    private func decode(
        file: Manifest.File, from source: some DeliverySource, connectionName: String, skipsUnknownKinds: Bool,
        write: ([StagedAsset]) async throws -> Void
    ) async throws -> Int {
        let lines = try GzipLineDecoder()
        let decoder = JSONLineDecoder()
        var hasher = SHA256()
        var batch: [StagedAsset] = []
        batch.reserveCapacity(batchSize)
        // Full batches decoded from the current slice, written before the next slice is decoded.
        var ready: [[StagedAsset]] = []
        var records = 0
        func take(_ line: [UInt8]) throws {
            records += 1
            let record: MetadataRecord
            do {
                switch try decoder.decode(RecordLine.self, from: line) {
                case .record(let known):
                    record = known
                case .unknownKind where skipsUnknownKinds:
                    return
                case .unknownKind(let kind):
                    throw IngestionError(
                        "\(file.path): record \(records) has kind '\(kind)', which format 1.x up to "
                            + "\(MetadataFormat.version) does not define")
                }
            } catch let error as IngestionError {
                throw error
            } catch {
                throw IngestionError("\(file.path): record \(records) is not a valid v1 record: \(error)")
            }
            guard record.qualifiedName.parts.first == connectionName else {
                throw IngestionError(
                    "\(file.path): record \(records) is named outside connection '\(connectionName)'")
            }
            batch.append(Self.asset(record, body: line))
            if batch.count >= batchSize {
                ready.append(batch)
                batch = []
                batch.reserveCapacity(batchSize)
            }
        }
        do {
            try await source.read(file: file.path) { piece in
                hasher.update(data: piece)
                guard lines.compressedBytes + Int64(piece.count) <= file.bytes else {
                    throw IngestionError("\(file.path) is larger than the manifest says (\(file.bytes) bytes)")
                }
                // A piece may be a whole 1 MiB segment, tens of thousands of records once inflated: it is decoded
                // a slice at a time, and the batches each slice filled are written before the next one.
                var offset = 0
                while offset < piece.count {
                    let end = min(offset + Self.sliceBytes, piece.count)
                    try piece.withUnsafeBytes {
                        try lines.feed(UnsafeRawBufferPointer(rebasing: $0[offset..<end]), take)
                    }
                    offset = end
                    // Decoding runs on the cooperative pool, which has a thread per core: each slice ends with a
                    // suspension (a write, or a yield) so request handlers queued behind it run within milliseconds.
                    if ready.isEmpty { await Task.yield() }
                    for assets in ready { try await write(assets) }
                    ready.removeAll()
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
        if !batch.isEmpty { try await write(batch) }
        return records
    }

    /// The catalog row of a record: identity, hierarchy and the JSON line itself.
    public static func asset(_ record: MetadataRecord, body: [UInt8]) -> StagedAsset {
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
        case .bi(let value):
            (name, parent, database) = (value.name, value.parent, value.site)
        }
        var links: [StagedLink] = []
        var references: [StagedTableReference] = []
        switch record {
        case .bi(let value): (links, references) = lineage(of: value)
        case .lineageEdge(let edge):
            // A view reads its upstream: the link lets a table's page find the views built on it (downstream).
            links = [
                StagedLink(
                    relation: "lineage", fromKind: edge.upstreamKind.rawValue, from: edge.upstream.description,
                    toKind: edge.downstreamKind.rawValue, to: edge.downstream.description)
            ]
        default: break
        }
        return StagedAsset(
            kind: record.kind.rawValue, qualifiedName: qualifiedName, name: name, parent: parent?.description,
            schema: record.schemaName?.description, database: database.description, body: body,
            comment: record.comment, links: links, references: references)
    }

    /// The links a BI record states to other assets of its connection (always upstream → downstream, so walks
    /// read one direction), and the tables of other connections it says it reads.
    ///
    /// Besides the record's relation arrays, a field is linked from its data source and a data source from its
    /// custom SQL: a table a data source reads reaches every field of it, and so every sheet that shows one.
    static func lineage(of record: BIRecord) -> (links: [StagedLink], references: [StagedTableReference]) {
        func link(
            _ relation: String, _ fromKind: RecordKind, _ from: QualifiedName, to toKind: RecordKind,
            _ to: QualifiedName
        )
            -> StagedLink
        {
            StagedLink(
                relation: relation, fromKind: fromKind.rawValue, from: from.description, toKind: toKind.rawValue,
                to: to.description)
        }
        func reference(_ relation: String, _ table: TableReference) -> StagedTableReference {
            StagedTableReference(
                relation: relation,
                target: TableReferenceTarget(
                    connectionType: table.connectionType, host: table.host, port: table.port,
                    database: table.database, schema: table.schema, table: table.table),
                column: table.column)
        }
        switch record {
        case .site, .project, .workbook:
            return ([], [])
        case .sheet(let sheet):
            return (sheet.fields.map { link("fields", .field, $0, to: .sheet, sheet.qualifiedName) }, [])
        case .dashboard(let dashboard):
            return (dashboard.sheets.map { link("sheets", .sheet, $0, to: .dashboard, dashboard.qualifiedName) }, [])
        case .dataSource(let source):
            return (
                source.upstreamDataSources.map {
                    link("upstreamDataSources", .dataSource, $0, to: .dataSource, source.qualifiedName)
                },
                source.upstreamTables.map { reference("upstreamTables", $0) }
            )
        case .field(let field):
            return (
                [link("dataSource", .dataSource, field.dataSource, to: .field, field.qualifiedName)]
                    + field.upstreamFields.map { link("upstreamFields", .field, $0, to: .field, field.qualifiedName) },
                field.upstreamColumns.map { reference("upstreamColumns", $0) }
            )
        case .customSQL(let query):
            return (
                [link("dataSource", .customSQL, query.qualifiedName, to: .dataSource, query.dataSource)],
                query.upstreamTables.map { reference("upstreamTables", $0) }
            )
        }
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
                // A BI asset's name runs site/project/…, not database/schema/table, and a BI connector's filters
                // select whole projects by path, so a complete project (its scope) was read whole: nothing in it
                // is outside the extraction, and the name patterns below would misread its parts.
                if let recordKind = RecordKind(rawValue: kind), RecordKind.biKinds.contains(recordKind) {
                    return false
                }
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
