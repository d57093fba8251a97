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

    public init(assets: [CatalogAssetSummary]) {
        self.assets = assets
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
