public import Logging

/// One asset of the catalog as staged from a delivery and stored per connection: the record's identity, its
/// place in the hierarchy for browsing and deletion scopes, and the record itself as JSON.
public struct StagedAsset: Sendable, Equatable {
    /// The record kind (`table`, `column`, …).
    public var kind: String
    /// The rendered qualified name; unique per connection together with `kind`.
    public var qualifiedName: String
    public var name: String
    /// The qualified name of the direct parent shown in the UI (table for columns/keys/indexes, schema for
    /// relations and types, database for schemas), nil for databases.
    public var parent: String?
    /// The schema the asset lies in (its own name for a schema), nil for databases: the deletion scope.
    public var schema: String?
    public var database: String
    /// The record's JSON line, exactly as delivered.
    public var body: [UInt8]
    /// The links to other assets of the connection that the record states (BI records); stored with the asset and
    /// replaced with it.
    public var links: [StagedLink]
    /// The tables of other connections the record says it reads (BI records); stored with the asset and replaced
    /// with it.
    public var references: [StagedTableReference]

    public init(
        kind: String, qualifiedName: String, name: String, parent: String?, schema: String?, database: String,
        body: [UInt8], links: [StagedLink] = [], references: [StagedTableReference] = []
    ) {
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.parent = parent
        self.schema = schema
        self.database = database
        self.body = body
        self.links = links
        self.references = references
    }
}

/// Which parts of a connection's catalog a delivery saw completely: only there may absent assets be deleted.
public struct PublishScope: Sendable {
    /// Qualified names of schemas read completely: assets inside them that were not delivered are deleted.
    public var completeSchemas: Set<String>
    /// Qualified names of databases whose schema list was read completely: schemas (and their contents) no
    /// longer listed are deleted.
    public var completeDatabases: Set<String>
    /// Whether an absent asset was outside the extraction's scope (an excluded kind, or a name its filters
    /// exclude) and so must be kept; asked only for deletion candidates.
    public var outOfScope: @Sendable (_ kind: String, _ qualifiedName: String) -> Bool

    public init(
        completeSchemas: Set<String>, completeDatabases: Set<String>,
        outOfScope: @escaping @Sendable (_ kind: String, _ qualifiedName: String) -> Bool
    ) {
        self.completeSchemas = completeSchemas
        self.completeDatabases = completeDatabases
        self.outOfScope = outOfScope
    }
}

/// What a publish changed.
public struct PublishSummary: Sendable, Equatable {
    public var created: Int
    public var updated: Int
    public var unchanged: Int
    public var deleted: Int

    public init(created: Int, updated: Int, unchanged: Int, deleted: Int) {
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.deleted = deleted
    }
}

/// A catalog asset as browsed.
public struct CatalogAsset: Sendable, Equatable {
    public var connectionId: String
    public var kind: String
    public var qualifiedName: String
    public var name: String
    public var parent: String?
    public var body: [UInt8]
    /// The run that last created or changed it.
    public var runId: String

    public init(
        connectionId: String, kind: String, qualifiedName: String, name: String, parent: String?, body: [UInt8],
        runId: String
    ) {
        self.connectionId = connectionId
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.parent = parent
        self.body = body
        self.runId = runId
    }
}

/// The browsable catalog: per connection, the assets of its latest published delivery.
///
/// Publishing is staged: a delivery's records go into a per-run staging area in batches (memory stays bounded
/// however large the catalog), and `publish` applies them to the connection's assets in one transaction —
/// inserts, updates, and deletions only inside the complete scopes — so readers see the old snapshot or the
/// new one, never a mix, and a failed ingestion publishes nothing.
public protocol CatalogRepository: Sendable {
    /// Empties the run's staging area (a re-delivery starts over, and a published run's staging is no longer
    /// needed). May take several short transactions, so other writers are not held up behind a large one.
    func clearStaging(tenantId: String, runId: String) async throws
    /// Empties the staging area of every run that is not `ingesting`: what a server stopped between publishing a
    /// run and clearing its staging left behind. Returns the assets removed.
    func clearAbandonedStaging() async throws -> Int
    /// Adds a batch of assets to the run's staging area, all or nothing. A (kind, qualified name) staged before
    /// or repeated in the batch throws `StorageError(.conflict)`; an unknown run throws `StorageError(.notFound)`.
    func stage(tenantId: String, runId: String, assets: [StagedAsset]) async throws
    /// Applies the staged assets to the connection's catalog. The staging area is left as it is: the caller
    /// clears it once the run's outcome is recorded, so publishing (one transaction, which in SQLite holds the
    /// only write lock) does only the catalog's changes.
    ///
    /// New assets are created, assets whose body changed are updated (and name this run), the rest count as
    /// unchanged. An asset the run did not stage is deleted only when it lies in one of `scope.completeSchemas`,
    /// or in a schema of one of `scope.completeDatabases` that has no staged `schema` record (the schema
    /// vanished), and `scope.outOfScope` does not claim it. Database assets are never deleted: no scope says a
    /// connection's list of databases was read completely, so an extraction of one database cannot prove another
    /// gone; they go with their connection. Throws `StorageError(.notFound)` for an unknown connection or run.
    ///
    /// Publishing is ordered by the runs' `generation`: when the connection's catalog already holds the delivery of
    /// a newer run, nothing is applied and `StorageError(.superseded)` is thrown, so a delivery ingested late (a
    /// recovered ingestion, a slow replica that lost its lease) never brings back an older snapshot. Publishing
    /// the same run again is allowed. Publishes of one connection are serialised.
    func publish(
        tenantId: String, connectionId: String, runId: String, scope: PublishScope, now: Timestamp
    ) async throws -> PublishSummary

    /// Assets whose name contains `text` (case-insensitive), optionally of one kind or connection.
    func searchAssets(
        tenantId: String, text: String, kind: String?, connectionId: String?, limit: Int
    )
        async throws -> [CatalogAsset]
    func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws
        -> CatalogAsset?
    /// The assets whose parent is `parent` (a table's columns, keys and indexes; a schema's relations).
    func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset]
}

extension CatalogRepository {
    /// `clearStaging` for a run whose outcome is already recorded: a failure only leaves rows that the next start's
    /// `clearAbandonedStaging` removes, so it is logged (`staging.not_cleared`) rather than thrown.
    public func clearStagingOrLog(tenantId: String, runId: String, logger: Logger) async {
        do {
            try await clearStaging(tenantId: tenantId, runId: runId)
        } catch {
            logger.warning(
                "staging.not_cleared",
                metadata: ["run.id": .string(runId), "error.description": .string(String(describing: error))])
        }
    }
}
