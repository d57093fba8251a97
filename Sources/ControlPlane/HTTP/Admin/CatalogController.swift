import ControlPlaneStorage
import Hummingbird
import Metadata
import OutpostProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `/v1/admin/catalog`: search and browse the published catalog of the caller's tenant.
struct CatalogController<Store: ControlPlaneStore>: Sendable {
    let store: Store

    static var defaultSearchLimit: Int { 50 }
    static var maximumSearchLimit: Int { 500 }
    static var maximumQueryLength: Int { 200 }

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.get("search", use: search)
        group.get("assets", use: asset)
        group.get("lineage", use: lineage)
    }

    /// How many values each facet lists at most.
    static var facetLimit: Int { 20 }
    /// How many words a search may hold.
    static var maximumTerms: Int { 8 }

    /// `?q=` (words and "quoted phrases", each of which must occur in the name, qualified name or comment,
    /// case-insensitive; empty lists everything), optional `kind=`, `connectionId=`, `database=`, `schema=` and
    /// `parent=` (a qualified name: its direct children), `sort=` (`name`, `kind`, `qualifiedName`, `updated`),
    /// `order=` (`asc`, `desc`), `offset=`, `limit=` (≤ 500) and `facets=true`.
    @Sendable func search(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let fields = FormFields(parsing: Array((request.uri.query ?? "").utf8))
        let query = try Self.query(fields)
        let page = try await store.listAssets(tenantId: identity.tenantId, query: query)
        var facets: CatalogSearchFacets?
        switch fields["facets"] {
        case nil, "false": break
        case "true":
            facets = CatalogSearchFacets(
                try await store.assetFacets(
                    tenantId: identity.tenantId, query: query, limit: Self.facetLimit))
        default: throw APIError.invalidRequest("facets is true or false", field: "facets")
        }
        return try JSONResponse<CatalogSearchResponse>.make(
            CatalogSearchResponse(
                assets: page.assets.map(CatalogAssetSummary.init), total: page.total, offset: query.offset,
                facets: facets),
            status: .ok)
    }

    /// The listing a search request asks for, its parameters checked.
    static func query(_ fields: FormFields, defaultLimit: Int = defaultSearchLimit) throws -> CatalogQuery {
        let text = fields["q"] ?? ""
        if !text.isEmpty { try ConnectionValidation.checkText(text, field: "q", maximum: maximumQueryLength) }
        let terms = CatalogQuery.terms(in: text)
        guard terms.count <= maximumTerms else {
            throw APIError.invalidRequest("q holds at most \(maximumTerms) words", field: "q")
        }
        var query = CatalogQuery(terms: terms, kinds: try kind(fields["kind"]).map { [$0] } ?? [])
        for (name, keyPath) in [
            ("connectionId", \CatalogQuery.connectionId), ("database", \.database), ("schema", \.schema),
        ] {
            guard let value = fields[name], !value.isEmpty else { continue }
            try ConnectionValidation.checkText(value, field: name, maximum: 4096)
            query[keyPath: keyPath] = value
        }
        if let parent = fields["parent"], !parent.isEmpty {
            try ConnectionValidation.checkText(parent, field: "parent", maximum: 4096)
            query.place = .children(of: parent)
        }
        if let sort = fields["sort"], !sort.isEmpty {
            guard let order = CatalogQuery.Order(rawValue: sort) else {
                throw APIError.invalidRequest(
                    "sort is one of \(CatalogQuery.Order.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "sort")
            }
            query.order = order
        }
        switch fields["order"] {
        case nil, "", "asc": break
        case "desc": query.descending = true
        default: throw APIError.invalidRequest("order is asc or desc", field: "order")
        }
        query.offset = try RunsController<Store>.integer(fields["offset"], field: "offset", default: 0)
        guard (0...1_000_000_000).contains(query.offset) else {
            throw APIError.invalidRequest("offset is 0 or more", field: "offset")
        }
        query.limit = try RunsController<Store>.integer(fields["limit"], field: "limit", default: defaultLimit)
        guard (1...maximumSearchLimit).contains(query.limit) else {
            throw APIError.invalidRequest("limit is 1–\(maximumSearchLimit)", field: "limit")
        }
        return query
    }

    /// `?connectionId=&kind=&qualifiedName=`, all required: one asset with its children.
    @Sendable func asset(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let asset = try await requestedAsset(request, tenantId: identity.tenantId)
        let children = try await store.children(
            tenantId: identity.tenantId, connectionId: asset.connectionId, parent: asset.qualifiedName)
        var response = CatalogAssetResponse(asset: CatalogAssetSummary(asset), record: try Self.record(asset))
        if Self.relationKinds.contains(asset.kind) {
            var columns: [(Int64, JSONValue)] = []
            var keys: [JSONValue] = []
            var indexes: [JSONValue] = []
            var upstream: [JSONValue] = []
            for child in children {
                let record = try Self.record(child)
                switch child.kind {
                case RecordKind.column.rawValue: columns.append((Self.ordinal(of: record), record))
                case RecordKind.index.rawValue: indexes.append(record)
                case RecordKind.lineageEdge.rawValue: upstream.append(record)
                default: keys.append(record)
                }
            }
            response.columns = columns.sorted { $0.0 < $1.0 }.map(\.1)
            response.keys = keys
            response.indexes = indexes
            response.lineage = CatalogAssetResponse.Lineage(upstream: upstream)
        } else {
            response.children = children.map(CatalogAssetSummary.init)
        }
        return try JSONResponse<CatalogAssetResponse>.make(response, status: .ok)
    }

    /// `?connectionId=&kind=&qualifiedName=`, all required: what the asset is built from (down to the warehouse
    /// tables, resolved when read) and what is built from it, across connections.
    @Sendable func lineage(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let asset = try await requestedAsset(request, tenantId: identity.tenantId)
        let view = try await CatalogLineage(store: store).view(of: asset, tenantId: identity.tenantId)
        return try JSONResponse<CatalogLineageResponse>.make(
            CatalogLineageResponse(asset: asset, view: view), status: .ok)
    }

    /// The asset the `connectionId`, `kind` and `qualifiedName` parameters name; 400 when one is missing, 404 when
    /// the tenant's catalog has no such asset.
    private func requestedAsset(_ request: Request, tenantId: String) async throws -> CatalogAsset {
        let query = request.uri.queryParameters
        guard let connectionId = query.get("connectionId"), !connectionId.isEmpty else {
            throw APIError.invalidRequest("connectionId is required", field: "connectionId")
        }
        guard let kind = try Self.kind(query.get("kind")) else {
            throw APIError.invalidRequest("kind is required", field: "kind")
        }
        guard let qualifiedName = query.get("qualifiedName"), !qualifiedName.isEmpty else {
            throw APIError.invalidRequest("qualifiedName is required", field: "qualifiedName")
        }
        guard
            let asset = try await store.asset(
                tenantId: tenantId, connectionId: connectionId, kind: kind, qualifiedName: qualifiedName)
        else { throw APIError.notFound("no \(kind) \(qualifiedName) in connection \(connectionId)") }
        return asset
    }

    static var relationKinds: Set<String> {
        [RecordKind.table.rawValue, RecordKind.view.rawValue, RecordKind.materializedView.rawValue]
    }

    /// A `kind` parameter: nil when absent, a record kind's name otherwise.
    static func kind(_ text: String?) throws -> String? {
        guard let text, !text.isEmpty else { return nil }
        guard RecordKind(rawValue: text) != nil else {
            throw APIError.invalidRequest(
                "kind is one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))", field: "kind")
        }
        return text
    }

    /// The stored record as JSON; it was validated on ingestion, so a failure here is the server's fault.
    static func record(_ asset: CatalogAsset) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(asset.body))
        } catch {
            throw APIError.internalError
        }
    }

    static func ordinal(of record: JSONValue) -> Int64 {
        if case .object(let fields) = record, case .integer(let ordinal)? = fields["ordinal"] { return ordinal }
        return .max
    }
}
