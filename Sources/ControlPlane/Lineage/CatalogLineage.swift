import ControlPlaneStorage
import Metadata

/// An asset's lineage across the catalog, as its page and the admin API show it: for a BI asset, what it is built
/// from (down to the warehouse tables, resolved) and what is built from it; for a table, view or materialized view,
/// the BI assets of every connection that read it, up to the dashboards ("what breaks if this changes").
struct CatalogLineage<Store: ControlPlaneStore>: Sendable {
    /// How many distinct references naming a table are resolved to find what uses it.
    static var referenceLimit: Int { 1000 }

    let store: Store

    func view(of asset: CatalogAsset, tenantId: String) async throws -> LineageView {
        let kind = RecordKind(rawValue: asset.kind)
        if LineageKinds.relations.contains(asset.kind) {
            return try await relationLineage(asset, tenantId: tenantId)
        }
        guard let kind, RecordKind.biKinds.contains(kind) else { return LineageView() }
        let below = try await store.lineageBelow(
            tenantId: tenantId, connectionId: asset.connectionId, kind: asset.kind,
            qualifiedName: asset.qualifiedName, limit: LineageView.listLimit)
        let above = try await store.lineageAbove(
            tenantId: tenantId, connectionId: asset.connectionId, kind: asset.kind,
            qualifiedName: asset.qualifiedName, limit: LineageView.listLimit)
        var tables: [TableUse] = []
        if !below.references.isEmpty {
            let resolver = try await resolver(tenantId: tenantId)
            for target in below.references {
                tables.append(TableUse(target: target, resolution: try await resolver.resolve(target)))
            }
        }
        return LineageView(
            below: below.assets, tables: tables, above: above.assets, truncated: below.truncated || above.truncated)
    }

    /// A table's, view's or materialized view's lineage: inside its connection, the relations its views read
    /// (below) and the views built on it, however deep (above); then the BI assets of every connection that read
    /// it.
    private func relationLineage(_ asset: CatalogAsset, tenantId: String) async throws -> LineageView {
        let below = try await store.lineageBelow(
            tenantId: tenantId, connectionId: asset.connectionId, kind: asset.kind,
            qualifiedName: asset.qualifiedName, limit: LineageView.listLimit)
        let views = try await store.lineageAbove(
            tenantId: tenantId, connectionId: asset.connectionId, kind: asset.kind,
            qualifiedName: asset.qualifiedName, limit: LineageView.listLimit)
        var view = try await usedBy(asset, tenantId: tenantId)
        view.below = below.assets
        var seen = Set(views.assets.map { [$0.connectionId, $0.kind, $0.qualifiedName] })
        view.above =
            views.assets + view.above.filter { seen.insert([$0.connectionId, $0.kind, $0.qualifiedName]).inserted }
        view.truncated = view.truncated || below.truncated || views.truncated
        return view
    }

    /// The BI assets above a warehouse relation: the references that name a table of its name (by the index on the
    /// lower-cased name), those that resolve to this very asset, and everything built from their holders.
    private func usedBy(_ asset: CatalogAsset, tenantId: String) async throws -> LineageView {
        let named = try await store.referencedTables(
            tenantId: tenantId, tableLower: asset.name.lowercased(), limit: Self.referenceLimit)
        guard !named.isEmpty else { return LineageView() }
        let resolver = try await resolver(tenantId: tenantId)
        var matching: [TableReferenceTarget] = []
        for target in named {
            guard case .resolved(let assets) = try await resolver.resolve(target) else { continue }
            if assets.contains(where: {
                $0.connectionId == asset.connectionId && $0.kind == asset.kind
                    && $0.qualifiedName == asset.qualifiedName
            }) {
                matching.append(target)
            }
        }
        let above = try await store.lineageAbove(tenantId: tenantId, targets: matching, limit: LineageView.listLimit)
        return LineageView(above: above.assets, truncated: above.truncated || named.count >= Self.referenceLimit)
    }

    private func resolver(tenantId: String) async throws -> TableReferenceResolver<Store> {
        TableReferenceResolver(
            store: store, tenantId: tenantId, connections: try await store.connections(tenantId: tenantId))
    }
}

/// What one asset's lineage holds.
struct LineageView: Sendable {
    var below: [LineageAsset] = []
    var tables: [TableUse] = []
    var above: [LineageAsset] = []
    /// A list stopped at its limit.
    var truncated = false

    var isEmpty: Bool { below.isEmpty && tables.isEmpty && above.isEmpty }

    /// How many assets, and table references, each list holds at most.
    static var listLimit: Int { 500 }
}

/// A warehouse table below a BI asset, as the BI tool named it, and what it resolved to.
struct TableUse: Sendable, Equatable {
    var target: TableReferenceTarget
    var resolution: TableResolution
}
