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
    /// The record's comment or description, which search reads besides the names.
    public var comment: String?
    /// The links to other assets of the connection that the record states (BI records); stored with the asset and
    /// replaced with it.
    public var links: [StagedLink]
    /// The tables of other connections the record says it reads (BI records); stored with the asset and replaced
    /// with it.
    public var references: [StagedTableReference]

    public init(
        kind: String, qualifiedName: String, name: String, parent: String?, schema: String?, database: String,
        body: [UInt8], comment: String? = nil, links: [StagedLink] = [], references: [StagedTableReference] = []
    ) {
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.parent = parent
        self.schema = schema
        self.database = database
        self.body = body
        self.comment = comment
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

/// Which catalog assets a listing shows (search results, a parent's children), in which order, and which page.
public struct CatalogQuery: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        /// By name (case-insensitive), then connection, kind and qualified name.
        case name
        /// By kind, then name.
        case kind
        /// By qualified name.
        case qualifiedName
        /// By when the asset last changed.
        case updated
    }

    /// Where in the hierarchy the assets lie.
    public enum Place: Sendable, Equatable {
        case anywhere
        /// Assets without a parent: databases, BI sites.
        case topLevel
        /// The direct children of the asset with this qualified name.
        case children(of: String)
    }

    /// Lower-cased words or phrases: an asset matches when every one occurs in its name, its qualified name or its
    /// comment (`StagedAsset.searchText`). Empty matches every asset.
    public var terms: [String]
    /// Record kinds; empty allows any.
    public var kinds: [String]
    public var connectionId: String?
    /// Exactly this qualified name (of any kind the other filters allow).
    public var qualifiedName: String?
    /// The qualified name of the database (or BI site) the assets lie in.
    public var database: String?
    /// The qualified name of the schema (or BI project) the assets lie in.
    public var schema: String?
    public var place: Place
    public var order: Order
    public var descending: Bool
    public var offset: Int
    public var limit: Int

    public init(
        terms: [String] = [], kinds: [String] = [], connectionId: String? = nil, qualifiedName: String? = nil,
        database: String? = nil, schema: String? = nil, place: Place = .anywhere, order: Order = .name,
        descending: Bool = false,
        offset: Int = 0, limit: Int = 50
    ) {
        self.terms = terms
        self.kinds = kinds
        self.connectionId = connectionId
        self.qualifiedName = qualifiedName
        self.database = database
        self.schema = schema
        self.place = place
        self.order = order
        self.descending = descending
        self.offset = offset
        self.limit = limit
    }
}

/// One page of a catalog listing and how many assets the whole listing has.
public struct CatalogPage: Sendable, Equatable {
    public var assets: [CatalogAsset]
    public var total: Int

    public init(assets: [CatalogAsset], total: Int) {
        self.assets = assets
        self.total = total
    }
}

/// How the assets a query matches divide by kind, connection, database and schema: each facet counts as if its own
/// filter were not set (so the page can offer the other values), the most frequent values first.
public struct CatalogFacets: Sendable, Equatable {
    /// The facets a listing can count.
    public enum Dimension: Sendable, CaseIterable {
        case kind, connection, database, schema
    }

    public struct Value: Sendable, Hashable {
        public var value: String
        public var count: Int

        public init(value: String, count: Int) {
            self.value = value
            self.count = count
        }
    }

    public var kinds: [Value]
    public var connections: [Value]
    public var databases: [Value]
    public var schemas: [Value]

    public init(kinds: [Value], connections: [Value], databases: [Value], schemas: [Value]) {
        self.kinds = kinds
        self.connections = connections
        self.databases = databases
        self.schemas = schemas
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

    /// One page of the assets `query` matches, in its order, and how many it matches in all.
    func listAssets(tenantId: String, query: CatalogQuery) async throws -> CatalogPage
    /// How the assets `query` matches divide (its order and page do not matter), at most `limit` values per facet;
    /// only `dimensions` are counted (each is a pass over the matches), the others are empty.
    func assetFacets(
        tenantId: String, query: CatalogQuery, limit: Int, dimensions: Set<CatalogFacets.Dimension>
    ) async throws -> CatalogFacets
    /// How many children of each kind each of `parents` (qualified names) has: parent → kind → count.
    func childCounts(
        tenantId: String, connectionId: String, parents: [String]
    ) async throws -> [String: [String: Int]]
    func asset(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String
    ) async throws
        -> CatalogAsset?
    /// The assets whose parent is `parent` (a table's columns, keys and indexes; a schema's relations).
    func children(tenantId: String, connectionId: String, parent: String) async throws -> [CatalogAsset]
}

extension CatalogRepository {
    /// Every facet of `query`.
    public func assetFacets(tenantId: String, query: CatalogQuery, limit: Int) async throws -> CatalogFacets {
        try await assetFacets(
            tenantId: tenantId, query: query, limit: limit, dimensions: Set(CatalogFacets.Dimension.allCases))
    }

    /// The first `limit` assets whose name, qualified name or comment contains `text` (case-insensitive; empty
    /// matches all), optionally of one kind or connection, by name.
    public func searchAssets(
        tenantId: String, text: String, kind: String?, connectionId: String?, limit: Int
    ) async throws -> [CatalogAsset] {
        let text = text.lowercased()
        return try await listAssets(
            tenantId: tenantId,
            query: CatalogQuery(
                terms: text.isEmpty ? [] : [text], kinds: kind.map { [$0] } ?? [], connectionId: connectionId,
                limit: limit)
        ).assets
    }

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
