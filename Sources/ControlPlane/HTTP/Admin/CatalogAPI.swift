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

extension CatalogSearchFacets {
    init(_ facets: CatalogFacets) {
        func values(_ list: [CatalogFacets.Value]) -> [Value] { list.map { Value(value: $0.value, count: $0.count) } }
        self.init(
            kind: values(facets.kinds), connectionId: values(facets.connections), database: values(facets.databases),
            schema: values(facets.schemas))
    }
}

extension CatalogQuery {
    /// The words of a search, lower-cased as the stored search text is: split at white space, except inside
    /// double quotes, which keep a phrase together; repeated words count once.
    static func terms(in text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var quoted = false
        func finish() {
            let term = current.lowercased()
            if !term.isEmpty && !terms.contains(term) { terms.append(term) }
            current = ""
        }
        for character in text {
            if character == "\"" {
                finish()
                quoted.toggle()
            } else if character.isWhitespace && !quoted {
                finish()
            } else {
                current.append(character)
            }
        }
        finish()
        return terms
    }
}
