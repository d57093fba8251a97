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

    /// `?q=` (a part of the name, case-insensitive; empty lists everything), optional `kind=`, `connectionId=`,
    /// and `limit=` (≤ 500).
    @Sendable func search(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let text = query.get("q") ?? ""
        if !text.isEmpty { try ConnectionValidation.checkText(text, field: "q", maximum: Self.maximumQueryLength) }
        let kind = try Self.kind(query.get("kind"))
        let limit = try RunsController<Store>.integer(
            query.get("limit"), field: "limit", default: Self.defaultSearchLimit)
        guard (1...Self.maximumSearchLimit).contains(limit) else {
            throw APIError.invalidRequest("limit is 1–\(Self.maximumSearchLimit)", field: "limit")
        }
        let assets = try await store.searchAssets(
            tenantId: identity.tenantId, text: text, kind: kind, connectionId: query.get("connectionId"), limit: limit)
        return try JSONResponse<CatalogSearchResponse>.make(
            CatalogSearchResponse(assets: assets.map(CatalogAssetSummary.init)), status: .ok)
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
