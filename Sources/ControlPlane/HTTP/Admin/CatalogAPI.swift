internal import ControlPlaneStorage
internal import OutpostProtocol

// The catalog API's bodies (in OutpostProtocol) made from the stored assets.

extension CatalogAssetSummary {
    init(_ asset: CatalogAsset) {
        self.init(
            connectionId: asset.connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName, name: asset.name,
            parent: asset.parent, runId: asset.runId)
    }
}
