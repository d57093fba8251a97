import ControlPlaneStorage
import Metadata
import OutpostProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// The catalog: search, and one asset's page (a table's columns, keys, indexes and lineage).

extension UIViews {
    static func assetLink(_ asset: CatalogAsset) -> String {
        HTML.link(
            "/ui/catalog/asset",
            ["connectionId": asset.connectionId, "kind": asset.kind, "qualifiedName": asset.qualifiedName])
    }

    static func catalogPage(
        query: String, kind: String, results: [CatalogAsset], names: [String: String], error: String?, limit: Int,
        csrf: String
    ) -> Node {
        page(title: "Catalog", section: .catalog, csrf: csrf) {
            HTML.element(
                "form", Attribute("method", "get"), Attribute("action", "/ui/catalog"), Attribute("class", "toolbar"),
                Attribute("role", "search")
            ) {
                HTML.element("label", Attribute("for", "q"), Attribute("class", "muted")) { "Name contains" }
                HTML.void(
                    "input", Attribute("type", "search"), Attribute("id", "q"), Attribute("name", "q"),
                    Attribute("value", query), Attribute("placeholder", "customers"), Attribute("maxlength", "200"))
                HTML.element("select", Attribute("name", "kind"), Attribute("aria-label", "Kind")) {
                    HTML.element("option", Attribute("value", ""), Attribute("selected", kind.isEmpty ? "" : nil)) {
                        "Any kind"
                    }
                    for candidate in RecordKind.allCases {
                        HTML.element(
                            "option", Attribute("value", candidate.rawValue),
                            Attribute("selected", candidate.rawValue == kind ? "" : nil)
                        ) { candidate.rawValue }
                    }
                }
                HTML.element("button", Attribute("type", "submit"), Attribute("class", "primary")) { "Search" }
            }
            if let error { notice(error) }
            table(
                ["Name", "Kind", "Qualified name", "Connection"],
                empty: query.isEmpty ? "The catalog is empty: run a connection to fill it." : "Nothing matches.",
                rows: results.map { asset in
                    [
                        HTML.element("a", Attribute("href", assetLink(asset))) { asset.name },
                        badge(asset.kind, tone: "muted"),
                        HTML.element("code") { asset.qualifiedName },
                        .text(names[asset.connectionId] ?? asset.connectionId),
                    ]
                })
            if results.count >= limit {
                HTML.element("p", Attribute("class", "muted")) {
                    "Showing the first \(limit) matches; narrow the search to see others."
                }
            }
        }
    }

    static func assetPage(
        asset: CatalogAsset, record: MetadataRecord?, connectionName: String?,
        children: [(CatalogAsset, MetadataRecord?)], csrf: String
    ) -> Node {
        var columns: [Column] = []
        var constraints: [Constraint] = []
        var indexes: [Index] = []
        var upstream: [LineageEdge] = []
        var others: [CatalogAsset] = []
        for (child, childRecord) in children {
            switch childRecord {
            case .column(let column): columns.append(column)
            case .constraint(let constraint): constraints.append(constraint)
            case .index(let index): indexes.append(index)
            case .lineageEdge(let edge): upstream.append(edge)
            default: others.append(child)
            }
        }
        columns.sort { $0.ordinal < $1.ordinal }
        return page(title: asset.name, section: .catalog, csrf: csrf) {
            HTML.element("p", Attribute("class", "crumbs")) {
                badge(asset.kind, tone: "muted")
                " "
                HTML.element("code") { asset.qualifiedName }
                " in "
                connectionName ?? asset.connectionId
            }
            if let parent = asset.parent {
                HTML.element("p") {
                    "Part of "
                    HTML.element("code") { parent }
                }
            }
            relationFacts(record, runId: asset.runId)
            if !columns.isEmpty {
                HTML.element("h2") { "Columns" }
                table(
                    ["#", "Name", "Type", "Nullable", "Default", "Comment"], empty: "",
                    rows: columns.map { column in
                        [
                            .text(String(column.ordinal)), HTML.element("strong") { column.name },
                            HTML.element("code") { column.nativeType }, .text(column.nullable ? "yes" : "no"),
                            HTML.element("code") { column.defaultExpression ?? "" }, .text(column.comment ?? ""),
                        ]
                    }, numeric: [0])
            }
            if !constraints.isEmpty {
                HTML.element("h2") { "Keys and constraints" }
                table(
                    ["Name", "Kind", "Columns", "References"], empty: "",
                    rows: constraints.map { key in
                        [
                            .text(key.name), badge(key.kind.rawValue, tone: "muted"),
                            .text(key.columns.joined(separator: ", ")),
                            .text(
                                key.referencedTable.map {
                                    "\($0.parts.last ?? $0.description) (\((key.referencedColumns ?? []).joined(separator: ", ")))"
                                } ?? key.expression ?? "—"),
                        ]
                    })
            }
            if !indexes.isEmpty {
                HTML.element("h2") { "Indexes" }
                table(
                    ["Name", "Keys", "Unique", "Method"], empty: "",
                    rows: indexes.map { index in
                        [
                            .text(index.name),
                            .text(index.keys.map { $0.column ?? $0.expression ?? "?" }.joined(separator: ", ")),
                            .text(index.unique ? "yes" : "no"), .text(index.method ?? "—"),
                        ]
                    })
            }
            if !upstream.isEmpty {
                HTML.element("h2") { "Lineage: reads from" }
                table(
                    ["Upstream", "Kind", "Columns"], empty: "",
                    rows: upstream.map { edge in
                        [
                            HTML.element(
                                "a",
                                Attribute(
                                    "href",
                                    HTML.link(
                                        "/ui/catalog/asset",
                                        [
                                            "connectionId": asset.connectionId, "kind": edge.upstreamKind.rawValue,
                                            "qualifiedName": edge.upstream.description,
                                        ]))
                            ) { edge.upstream.description },
                            badge(edge.upstreamKind.rawValue, tone: "muted"),
                            .text(edge.upstreamColumns.isEmpty ? "—" : edge.upstreamColumns.joined(separator: ", ")),
                        ]
                    })
            }
            if !others.isEmpty {
                HTML.element("h2") { "Contains" }
                table(
                    ["Name", "Kind"], empty: "",
                    rows: others.map { child in
                        [
                            HTML.element("a", Attribute("href", assetLink(child))) { child.name },
                            badge(child.kind, tone: "muted"),
                        ]
                    })
            }
            HTML.element("details") {
                HTML.element("summary") { "Record" }
                HTML.element("pre") { prettyRecord(asset.body) }
            }
        }
    }

    private static func relationFacts(_ record: MetadataRecord?, runId: String) -> Node {
        var pairs: [(String, Node)] = []
        if case .relation(let relation) = record {
            if let owner = relation.owner { pairs.append(("Owner", .text(owner))) }
            if let rows = relation.rowEstimate { pairs.append(("Rows (estimate)", .text(String(rows)))) }
            if let size = relation.sizeBytes { pairs.append(("Size", .text(UIFormat.bytes(size)))) }
            if let comment = relation.comment { pairs.append(("Comment", .text(comment))) }
            if let definition = relation.definition {
                pairs.append(("Definition", HTML.element("code") { definition }))
            }
        }
        pairs.append(("Last changed by", link(runId, to: "/ui/runs/\(HTML.percentEncode(runId))")))
        return facts(pairs)
    }

    /// The stored JSON line, indented when it parses.
    private static func prettyRecord(_ body: [UInt8]) -> String {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            return String(decoding: body, as: UTF8.self)
        }
        return prettyJSON(value)
    }
}
