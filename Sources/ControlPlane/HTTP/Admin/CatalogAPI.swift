internal import ControlPlaneStorage
internal import OutpostProtocol

// The catalog API's bodies (in OutpostProtocol) made from the stored assets.

extension CatalogAssetSummary {
    init(_ asset: CatalogAsset) {
        self.init(
            connectionId: asset.connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName, name: asset.name,
            parent: asset.parent, runId: asset.runId)
    }

    init(_ asset: LineageAsset) {
        self.init(
            connectionId: asset.connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName, name: asset.name,
            parent: asset.parent, runId: asset.runId)
    }
}

extension CatalogLineageResponse {
    init(asset: CatalogAsset, view: LineageView) {
        self.init(
            asset: CatalogAssetSummary(asset), below: view.below.map(CatalogAssetSummary.init),
            tables: view.tables.map(CatalogTableReference.init), above: view.above.map(CatalogAssetSummary.init),
            truncated: view.truncated)
    }
}

extension CatalogTableReference {
    init(_ use: TableUse) {
        let target = use.target
        switch use.resolution {
        case .resolved(let assets):
            self.init(
                connectionType: target.connectionType, host: target.host, port: target.port,
                database: target.database, schema: target.schema, table: target.table, resolved: true,
                assets: assets.map(CatalogAssetSummary.init), reason: nil)
        case .unresolved(let reason):
            self.init(
                connectionType: target.connectionType, host: target.host, port: target.port,
                database: target.database, schema: target.schema, table: target.table, resolved: false, assets: [],
                reason: reason)
        }
    }
}
