// Bodies of the catalog part of the admin API: search results and one asset with what belongs to it.

/// An asset as a search lists it: its identity and place, without the record.
public struct CatalogAssetSummary: Codable, Sendable, Equatable {
    public var connectionId: String
    /// The record kind: `table`, `view`, `column`, `primaryKey`, …
    public var kind: String
    public var qualifiedName: String
    public var name: String
    /// The qualified name of the asset it belongs to (a column's table, a table's schema); nil for databases.
    public var parent: String?
    /// The run that last created or changed it.
    public var runId: String

    public init(connectionId: String, kind: String, qualifiedName: String, name: String, parent: String?, runId: String)
    {
        self.connectionId = connectionId
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.parent = parent
        self.runId = runId
    }
}

/// `GET /v1/admin/catalog/search`.
public struct CatalogSearchResponse: Codable, Sendable, Equatable {
    public var assets: [CatalogAssetSummary]
    /// How many assets match in all (the page is `assets`, from `offset`).
    public var total: Int?
    public var offset: Int?
    /// How the matches divide, when asked for (`facets=true`).
    public var facets: CatalogSearchFacets?

    public init(
        assets: [CatalogAssetSummary], total: Int? = nil, offset: Int? = nil, facets: CatalogSearchFacets? = nil
    ) {
        self.assets = assets
        self.total = total
        self.offset = offset
        self.facets = facets
    }
}

/// How the assets a search matches divide by kind, connection, database and schema; each facet is counted as if
/// its own filter were not set, the most frequent values first.
public struct CatalogSearchFacets: Codable, Sendable, Equatable {
    public struct Value: Codable, Sendable, Equatable {
        public var value: String
        public var count: Int

        public init(value: String, count: Int) {
            self.value = value
            self.count = count
        }
    }

    public var kind: [Value]
    public var connectionId: [Value]
    public var database: [Value]
    public var schema: [Value]

    public init(kind: [Value], connectionId: [Value], database: [Value], schema: [Value]) {
        self.kind = kind
        self.connectionId = connectionId
        self.database = database
        self.schema = schema
    }
}

/// `GET /v1/admin/catalog/assets`: one asset's record as delivered, and what belongs to it.
///
/// A table, view or materialized view lists its columns (in column order), keys and constraints, indexes, and
/// the lineage edges that lead into it; any other asset lists its children (a schema's relations and types, a
/// database's schemas).
public struct CatalogAssetResponse: Codable, Sendable, Equatable {
    /// The lineage edges of a relation.
    public struct Lineage: Codable, Sendable, Equatable {
        /// Edges from the objects this relation reads (a view's sources), as records.
        public var upstream: [JSONValue]

        public init(upstream: [JSONValue]) {
            self.upstream = upstream
        }
    }

    public var asset: CatalogAssetSummary
    /// The metadata record exactly as the agent delivered it (format v1).
    public var record: JSONValue
    public var columns: [JSONValue]?
    public var keys: [JSONValue]?
    public var indexes: [JSONValue]?
    public var lineage: Lineage?
    public var children: [CatalogAssetSummary]?

    public init(
        asset: CatalogAssetSummary, record: JSONValue, columns: [JSONValue]? = nil, keys: [JSONValue]? = nil,
        indexes: [JSONValue]? = nil, lineage: Lineage? = nil, children: [CatalogAssetSummary]? = nil
    ) {
        self.asset = asset
        self.record = record
        self.columns = columns
        self.keys = keys
        self.indexes = indexes
        self.lineage = lineage
        self.children = children
    }
}

/// `GET /v1/admin/catalog/lineage`: what an asset is built from and what is built from it, across connections.
///
/// For a BI asset (dashboard, sheet, field, data source, custom SQL): `below` lists the assets of its connection it
/// is built from, transitively, and `tables` the warehouse tables under them; `above` lists those built from it.
/// For a table, view or materialized view: `above` lists the BI assets of every connection that read it, up to
/// the dashboards. Other kinds have empty lists.
public struct CatalogLineageResponse: Codable, Sendable, Equatable {
    public var asset: CatalogAssetSummary
    public var below: [CatalogAssetSummary]
    public var tables: [CatalogTableReference]
    public var above: [CatalogAssetSummary]
    /// Whether a list stopped at its limit (500 entries).
    public var truncated: Bool

    public init(
        asset: CatalogAssetSummary, below: [CatalogAssetSummary], tables: [CatalogTableReference],
        above: [CatalogAssetSummary], truncated: Bool
    ) {
        self.asset = asset
        self.below = below
        self.tables = tables
        self.above = above
        self.truncated = truncated
    }
}

/// A table of another connection as a BI tool names it, and the catalog asset it resolves to.
///
/// Resolved when read, so it follows whichever side was published last; an unresolved reference keeps what the BI
/// tool said and says why it did not match.
public struct CatalogTableReference: Codable, Sendable, Equatable {
    /// The BI tool's connection type (`postgres`, `snowflake`, …).
    public var connectionType: String
    public var host: String?
    public var port: Int?
    public var database: String?
    public var schema: String?
    public var table: String
    public var resolved: Bool
    /// The matching tables: one, or one per connection when several extract the same database; empty when
    /// unresolved.
    public var assets: [CatalogAssetSummary]
    /// Why an unresolved reference matched nothing.
    public var reason: String?

    public init(
        connectionType: String, host: String?, port: Int?, database: String?, schema: String?, table: String,
        resolved: Bool, assets: [CatalogAssetSummary], reason: String?
    ) {
        self.connectionType = connectionType
        self.host = host
        self.port = port
        self.database = database
        self.schema = schema
        self.table = table
        self.resolved = resolved
        self.assets = assets
        self.reason = reason
    }
}
