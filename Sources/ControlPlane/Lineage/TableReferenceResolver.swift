import ControlPlaneStorage
import Metadata
import SourceURLs

/// What a table reference resolved to.
enum TableResolution: Sendable, Equatable {
    /// The table's assets: one, or one per connection when several extract the same database.
    case resolved([CatalogAsset])
    /// Why nothing matched, for the operator.
    case unresolved(String)
}

/// Resolves what a BI tool says about a warehouse table to the catalog's asset of the connection whose source it
/// names.
///
/// Resolution happens when lineage is read, never stored. A stored resolution would go stale whenever either side
/// changes — the warehouse connection re-published without the table, a connection added or its URL edited after
/// the BI connection was ingested — and keeping it right would make every publish of one connection rewrite rows of
/// others (in SQLite, under the one write lock, for a whole catalog). Resolving on read costs a few indexed lookups
/// per distinct reference a page shows (the assets' primary key for the exact name, `(tenant, name_lower)` for the
/// case-insensitive fallback) and is right by construction whichever side was published last.
///
/// Matching: `snowflake` references go to `snowflake` connections whose account host
/// (`<account>.snowflakecomputing.com`) is the reference's host; `postgres`/`postgresql` references to `postgresql`
/// connections with the same host and port (5432 when either omits it), the database being the reference's or the
/// URL's. Among those, the table is looked up by its exact database, schema and table names first; failing that, by
/// the names compared case-insensitively (Snowflake upper-cases unquoted names, Tableau reports them as written),
/// and only when that finds exactly one table.
struct TableReferenceResolver<Store: LineageRepository & CatalogRepository>: Sendable {
    /// A warehouse connection a reference may name.
    struct Warehouse: Sendable {
        enum Kind: Sendable {
            case snowflake
            case postgresql
        }

        var connection: ConnectionRecord
        var kind: Kind
        /// Lower case.
        var host: String
        var port: Int?
        /// The database the connection's URL names; nil when it reads every database.
        var database: String?
    }

    /// How many same-named relations the case-insensitive fallback considers.
    static var fallbackLimit: Int { 100 }

    let store: Store
    let tenantId: String
    let warehouses: [Warehouse]

    /// - Parameter connections: the tenant's connections; those of other kinds, and URLs that do not parse, are
    ///   never matched.
    init(store: Store, tenantId: String, connections: [ConnectionRecord]) {
        self.store = store
        self.tenantId = tenantId
        self.warehouses = connections.compactMap(Self.warehouse)
    }

    static func warehouse(_ connection: ConnectionRecord) -> Warehouse? {
        switch connection.sourceKind {
        case "snowflake":
            guard let source = try? SnowflakeSource(url: connection.sourceURL) else { return nil }
            return Warehouse(
                connection: connection, kind: .snowflake,
                host: source.account.lowercased() + ".snowflakecomputing.com", port: nil, database: source.database)
        case "postgresql":
            guard let source = try? PostgresSource(url: connection.sourceURL) else { return nil }
            return Warehouse(
                connection: connection, kind: .postgresql, host: source.host.lowercased(), port: source.port,
                database: source.database)
        default:
            return nil
        }
    }

    func resolve(_ target: TableReferenceTarget) async throws -> TableResolution {
        let kind: Warehouse.Kind
        switch target.connectionType.lowercased() {
        case "snowflake": kind = .snowflake
        case "postgres", "postgresql": kind = .postgresql
        default:
            return .unresolved(
                "connection type '\(target.connectionType)' is not one the catalog resolves (snowflake, postgres)")
        }
        guard let host = target.host?.lowercased(), !host.isEmpty else {
            return .unresolved("the reference names no host")
        }
        let candidates = warehouses.filter { warehouse in
            guard warehouse.kind == kind, warehouse.host == host else { return false }
            return kind == .snowflake || (warehouse.port ?? 5432) == (target.port ?? 5432)
        }
        guard !candidates.isEmpty else {
            let source = kind == .snowflake ? "snowflake connection for account host" : "postgresql connection for"
            return .unresolved("no \(source) \(host)\(kind == .postgresql ? ":\(target.port ?? 5432)" : "")")
        }

        var exact: [CatalogAsset] = []
        for candidate in candidates {
            guard let database = target.database ?? candidate.database, let schema = target.schema else { continue }
            if let wanted = candidate.database, wanted != database { continue }
            let name = QualifiedName([candidate.connection.name, database, schema, target.table]).description
            for relationKind in LineageKinds.relations {
                if let asset = try await store.asset(
                    tenantId: tenantId, connectionId: candidate.connection.id, kind: relationKind, qualifiedName: name)
                {
                    exact.append(asset)
                }
            }
        }
        if !exact.isEmpty { return .resolved(exact) }

        let named = try await store.relations(
            tenantId: tenantId, connectionIds: candidates.map(\.connection.id), nameLower: target.tableLower,
            limit: Self.fallbackLimit)
        let byId = Dictionary(candidates.map { ($0.connection.id, $0) }, uniquingKeysWith: { first, _ in first })
        let matches = named.filter { asset in
            guard let parts = try? QualifiedName(parsing: asset.qualifiedName).parts, parts.count == 4,
                let candidate = byId[asset.connectionId]
            else { return false }
            if let database = (target.database ?? candidate.database)?.lowercased(), parts[1].lowercased() != database {
                return false
            }
            if let schema = target.schema?.lowercased(), parts[2].lowercased() != schema { return false }
            return true
        }
        switch matches.count {
        case 1:
            return .resolved(matches)
        case 0:
            let names = candidates.map(\.connection.name).sorted().joined(separator: ", ")
            return .unresolved("no table of that name in \(names)")
        default:
            return .unresolved("\(matches.count) tables match when case is ignored; none matches exactly")
        }
    }
}
