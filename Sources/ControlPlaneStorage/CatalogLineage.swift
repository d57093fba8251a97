// Lineage inside a BI connection (links between its assets) and what its assets say about the tables of other
// connections (table references), as stored with the assets that declare them and walked by the catalog's pages.

/// A relation between two assets of one BI connection, declared by one of them (the holder): `from` feeds `to`.
///
/// Stored with the holder's row and replaced, or removed, with it: a link never outlives the record that stated it.
public struct StagedLink: Sendable, Equatable, Hashable {
    /// What the holder's record calls the relation (`fields`, `sheets`, `upstreamDataSources`, `upstreamFields`,
    /// `dataSource`).
    public var relation: String
    public var fromKind: String
    public var from: String
    public var toKind: String
    public var to: String

    public init(relation: String, fromKind: String, from: String, toKind: String, to: String) {
        self.relation = relation
        self.fromKind = fromKind
        self.from = from
        self.toKind = toKind
        self.to = to
    }
}

/// A table of another connection as a BI tool names it: what a reference is resolved by.
///
/// Every part but `connectionType` and `table` may be missing: BI tools often know less than the warehouse.
public struct TableReferenceTarget: Sendable, Equatable, Hashable, Codable {
    /// The BI tool's connection type, lower case (`postgres`, `snowflake`, …).
    public var connectionType: String
    public var host: String?
    public var port: Int?
    public var database: String?
    public var schema: String?
    public var table: String

    public init(
        connectionType: String, host: String?, port: Int?, database: String?, schema: String?, table: String
    ) {
        self.connectionType = connectionType
        self.host = host
        self.port = port
        self.database = database
        self.schema = schema
        self.table = table
    }

    /// The table's name as the reference index compares it (Swift's Unicode lower case, as `StagedAsset`'s).
    public var tableLower: String { table.lowercased() }
}

/// A table (or a column of one) of another connection that a BI asset reads, stored with the asset.
public struct StagedTableReference: Sendable, Equatable, Hashable {
    /// What the holder's record calls the list it came from (`upstreamTables`, `upstreamColumns`).
    public var relation: String
    public var target: TableReferenceTarget
    public var column: String?

    public init(relation: String, target: TableReferenceTarget, column: String?) {
        self.relation = relation
        self.target = target
        self.column = column
    }
}

/// An asset reached by walking lineage: its identity and place, without its record.
public struct LineageAsset: Sendable, Hashable {
    public var connectionId: String
    public var kind: String
    public var qualifiedName: String
    public var name: String
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

/// What a walk found, bounded: `truncated` says a list stopped at the walk's limit.
/// One link of a lineage graph: `from` feeds `to` (a table feeds the view that reads it, a field the sheet that
/// shows it).
public struct LineageLink: Sendable, Hashable {
    public var from: LineageAsset
    public var to: LineageAsset

    public init(from: LineageAsset, to: LineageAsset) {
        self.from = from
        self.to = to
    }
}

/// Which way a lineage walk goes from its asset.
public enum LineageDirection: Sendable {
    /// Towards what the asset is built from.
    case below
    /// Towards what is built from the asset.
    case above
}

public struct LineageWalk: Sendable, Equatable {
    public var assets: [LineageAsset]
    /// The distinct tables of other connections the walked assets reference (walks downwards only).
    public var references: [TableReferenceTarget]
    public var truncated: Bool

    public init(assets: [LineageAsset], references: [TableReferenceTarget], truncated: Bool) {
        self.assets = assets
        self.references = references
        self.truncated = truncated
    }
}

/// Reads of the lineage stored with BI assets; every read is scoped to the tenant and sees the published
/// catalogs only.
///
/// Walks are recursive queries over indexed links (`WITH RECURSIVE … UNION`, so a cycle ends the walk rather than
/// looping), never loading a catalog into memory; each list stops at `limit` and says so.
public protocol LineageRepository: Sendable {
    /// The assets of the connection that `qualifiedName` is built from, transitively (a dashboard's sheets, their
    /// fields, the data sources of those, the published data sources below them), and the distinct table
    /// references they hold, the asset's own included.
    func lineageBelow(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk

    /// The assets of the connection built from `qualifiedName`, transitively (a data source's fields, the sheets
    /// that show them, the dashboards that hold those).
    func lineageAbove(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, limit: Int
    ) async throws -> LineageWalk

    /// The links of the connection within `depth` steps of the asset in one direction, both ends visible assets,
    /// at most `limit` (then `truncated`), ordered by the names of their ends.
    func lineageLinks(
        tenantId: String, connectionId: String, kind: String, qualifiedName: String, direction: LineageDirection,
        depth: Int, limit: Int
    ) async throws -> (links: [LineageLink], truncated: Bool)

    /// The BI assets, of any connection, that hold a reference to one of `targets` (matched part by part, a
    /// missing part matching only a missing part), and everything built from them.
    func lineageAbove(tenantId: String, targets: [TableReferenceTarget], limit: Int) async throws -> LineageWalk

    /// The distinct table references of any connection whose table name is `tableLower` in lower case.
    func referencedTables(tenantId: String, tableLower: String, limit: Int) async throws -> [TableReferenceTarget]

    /// The tables, views and materialized views of `connectionIds` whose name is `nameLower` in lower case.
    func relations(
        tenantId: String, connectionIds: [String], nameLower: String, limit: Int
    ) async throws -> [CatalogAsset]
}

/// The kinds a table reference resolves to, and the kinds whose pages show what uses them.
public enum LineageKinds {
    /// Tables, views and materialized views.
    public static let relations = ["table", "view", "materializedView"]
}

/// Reference targets as a JSON array both stores read back in SQL (SQLite's `json_each`, PostgreSQL's
/// `jsonb_to_recordset`), with the column names of `catalog_references` as keys.
enum StoredTargets {
    struct Row: Encodable {
        var connectionType: String
        var host: String?
        var port: Int?
        var database: String?
        var schema: String?
        var table: String
        var tableLower: String

        enum CodingKeys: String, CodingKey {
            case host, port
            case connectionType = "connection_type"
            case database = "database_name"
            case schema = "schema_name"
            case table = "table_name"
            case tableLower = "table_lower"
        }
    }

    static func encode(_ targets: [TableReferenceTarget]) throws -> String {
        try StoredJSON.encode(
            targets.map {
                Row(
                    connectionType: $0.connectionType, host: $0.host, port: $0.port, database: $0.database,
                    schema: $0.schema, table: $0.table, tableLower: $0.tableLower)
            })
    }
}
