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

    static func assetPage(
        asset: CatalogAsset, record: MetadataRecord?, connectionName: String?, trail: [CatalogAsset] = [],
        children: [(CatalogAsset, MetadataRecord?)], tableParts: [(CatalogAsset, MetadataRecord?)] = [],
        lineage: LineageView = LineageView(), connectionNames: [String: String] = [:], csrf: String
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
            HTML.element("nav", Attribute("class", "crumbs"), Attribute("aria-label", "Breadcrumb")) {
                link("Catalog", to: "/ui/catalog")
                " › "
                link(
                    connectionName ?? asset.connectionId,
                    to: HTML.link("/ui/catalog/browse", ["connectionId": asset.connectionId]))
                for ancestor in trail {
                    " › "
                    link(ancestor.name, to: openLink(ancestor))
                }
            }
            HTML.element("p") {
                badge(kindLabel(asset.kind), tone: "muted")
                " "
                HTML.element("code") { asset.qualifiedName }
                if trail.isEmpty, let parent = asset.parent {
                    " in "
                    HTML.element(
                        "a", Attribute("href", nameLink(connectionId: asset.connectionId, qualifiedName: parent))
                    ) {
                        HTML.element("code") { parent }
                    }
                }
            }
            if case .bi(let bi) = record {
                biFacts(bi, runId: asset.runId)
            } else if case .column(let column) = record {
                columnFacts(column, asset: asset, tableParts: tableParts)
            } else {
                relationFacts(record, runId: asset.runId)
            }
            if LineageKinds.relations.contains(asset.kind)
                || RecordKind(rawValue: asset.kind).map(RecordKind.biKinds.contains) == true
            {
                HTML.element("p") {
                    HTML.element(
                        "a",
                        Attribute(
                            "href",
                            lineageGraphLink(
                                LineageAsset(
                                    connectionId: asset.connectionId, kind: asset.kind,
                                    qualifiedName: asset.qualifiedName, name: asset.name, parent: asset.parent,
                                    runId: asset.runId),
                                depth: LineageGraph.defaultDepth)),
                        Attribute("class", "button")
                    ) { "Lineage graph" }
                }
            }
            lineageSections(asset: asset, lineage: lineage, connectionNames: connectionNames)
            if !columns.isEmpty {
                HTML.element("h2") { "Columns" }
                table(
                    ["#", "Name", "Type", "Nullable", "Default", "Comment"], empty: "",
                    rows: columns.map { column in
                        [
                            .text(String(column.ordinal)),
                            HTML.element(
                                "a",
                                Attribute(
                                    "href",
                                    HTML.link(
                                        "/ui/catalog/asset",
                                        [
                                            "connectionId": asset.connectionId, "kind": RecordKind.column.rawValue,
                                            "qualifiedName": column.qualifiedName.description,
                                        ]))
                            ) { HTML.element("strong") { column.name } },
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
                            .text(key.name), badge(kindLabel(key.kind.rawValue), tone: "muted"),
                            .text(key.columns.joined(separator: ", ")),
                            referenceNode(key, connectionId: asset.connectionId),
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
                            badge(kindLabel(edge.upstreamKind.rawValue), tone: "muted"),
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
                            badge(kindLabel(child.kind), tone: "muted"),
                        ]
                    })
            }
            HTML.element("details") {
                HTML.element("summary") { "Record" }
                HTML.element("pre") { prettyRecord(asset.body) }
            }
        }
    }

    /// What a key or constraint refers to: the referenced table (a link) and its columns, or its expression.
    private static func referenceNode(_ key: Constraint, connectionId: String) -> Node {
        guard let table = key.referencedTable else { return .text(key.expression ?? "—") }
        return HTML.element("span") {
            HTML.element("a", Attribute("href", nameLink(connectionId: connectionId, qualifiedName: table.description)))
            {
                table.parts.last ?? table.description
            }
            " (\((key.referencedColumns ?? []).joined(separator: ", ")))"
        }
    }

    /// A column's own facts, and the keys and indexes of its table it is part of.
    private static func columnFacts(
        _ column: Column, asset: CatalogAsset, tableParts: [(CatalogAsset, MetadataRecord?)]
    ) -> Node {
        var pairs: [(String, Node)] = [
            ("Type", HTML.element("code") { column.nativeType }),
            ("Position", .text(String(column.ordinal))),
            ("Nullable", .text(column.nullable ? "yes" : "no")),
        ]
        if let value = column.defaultExpression { pairs.append(("Default", HTML.element("code") { value })) }
        if let comment = column.comment { pairs.append(("Comment", .text(comment))) }
        var parts: [Node] = []
        for (part, record) in tableParts {
            switch record {
            case .constraint(let key) where key.columns.contains(column.name):
                parts.append(
                    HTML.element("li") {
                        badge(kindLabel(key.kind.rawValue), tone: "muted")
                        " \(key.name)"
                        if key.referencedTable != nil {
                            " → "
                            referenceNode(key, connectionId: asset.connectionId)
                        }
                    })
            case .index(let index) where index.keys.contains(where: { $0.column == column.name }):
                parts.append(
                    HTML.element("li") {
                        badge(index.unique ? "unique index" : "index", tone: "muted")
                        " \(part.name)"
                    })
            default: break
            }
        }
        if !parts.isEmpty { pairs.append(("Part of", HTML.element("ul", Attribute("class", "plain")) { parts })) }
        pairs.append(("Last changed by", link(asset.runId, to: "/ui/runs/\(HTML.percentEncode(asset.runId))")))
        return facts(pairs)
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

    /// The kind of a BI record's parent, so the page can link to it.
    private static func parentKind(of record: BIRecord) -> RecordKind? {
        switch record {
        case .site: nil
        case .project(let project): project.parentProject == nil ? .site : .project
        case .workbook: .project
        case .sheet, .dashboard: .workbook
        case .dataSource(let source): source.workbook == nil ? .project : .workbook
        case .field, .customSQL: .dataSource
        }
    }

    /// A BI record's own facts, by kind.
    private static func biFacts(_ record: BIRecord, runId: String) -> Node {
        var pairs: [(String, Node)] = []
        func add(_ label: String, _ value: String?) {
            if let value, !value.isEmpty { pairs.append((label, .text(value))) }
        }
        func addCode(_ label: String, _ value: String?) {
            if let value, !value.isEmpty { pairs.append((label, HTML.element("code") { value })) }
        }
        func addURL(_ value: String?) {
            guard let value, value.hasPrefix("https://") || value.hasPrefix("http://") else { return }
            pairs.append(("Open in the BI tool", HTML.element("a", Attribute("href", value)) { value }))
        }
        switch record {
        case .site(let site):
            add("Content URL", site.contentUrl.isEmpty ? "(default site)" : site.contentUrl)
            addURL(site.url)
        case .project(let project):
            add("Path", project.path)
            add("Owner", project.owner)
            add("Description", project.comment)
        case .workbook(let workbook):
            add("Owner", workbook.owner)
            add("Created", workbook.createdAt)
            add("Updated", workbook.updatedAt)
            add("Tags", workbook.tags?.joined(separator: ", "))
            add("Description", workbook.comment)
            addURL(workbook.url)
        case .sheet(let sheet):
            add("Fields used", String(sheet.fields.count))
            add("Updated", sheet.updatedAt)
            addURL(sheet.url)
        case .dashboard(let dashboard):
            add("Sheets", String(dashboard.sheets.count))
            add("Updated", dashboard.updatedAt)
            addURL(dashboard.url)
        case .dataSource(let source):
            add("Published", source.published ? "yes (shared by workbooks)" : "no (embedded in its workbook)")
            add("Owner", source.owner)
            if let certified = source.certified {
                add("Certified", certified ? "yes" + (source.certifier.map { " by \($0)" } ?? "") : "no")
            }
            add("Certification note", source.certificationNote)
            add("Extracts", source.hasExtracts.map { $0 ? "yes" : "no" })
            add("Updated", source.updatedAt)
            add("Description", source.comment)
        case .field(let field):
            add("Field type", field.fieldType.rawValue + (field.sourceFieldType.map { " (\($0))" } ?? ""))
            add("Role", field.role)
            add("Data type", field.dataType)
            add("Hidden", field.hidden.map { $0 ? "yes" : "no" })
            addCode("Formula", field.formula)
            add("Description", field.comment)
        case .customSQL(let query):
            add("Connection type", query.connectionType)
            add(
                "Tables",
                query.parsed
                    ? (query.upstreamTables.isEmpty ? "the BI tool reports none" : String(query.upstreamTables.count))
                    : "the BI tool could not parse the query, so it reports none")
            addCode("Query", query.query)
        }
        pairs.append(("Last changed by", link(runId, to: "/ui/runs/\(HTML.percentEncode(runId))")))
        return facts(pairs)
    }

    /// Where each kind sits in lineage, from the warehouse up: lists read bottom-up.
    private static func lineageRank(_ kind: String) -> Int {
        switch RecordKind(rawValue: kind) {
        case .customSQL: 0
        case .dataSource: 1
        case .field: 2
        case .sheet: 3
        case .dashboard: 4
        default: 5
        }
    }

    private static func lineageLink(_ asset: LineageAsset) -> String {
        HTML.link(
            "/ui/catalog/asset",
            ["connectionId": asset.connectionId, "kind": asset.kind, "qualifiedName": asset.qualifiedName])
    }

    /// "Built from" (a BI asset's sources and the warehouse tables under them) and "Used by" (what is built from
    /// it; for a warehouse table, the BI assets of every connection up to the dashboards).
    @HTMLBuilder
    private static func lineageSections(
        asset: CatalogAsset, lineage: LineageView, connectionNames: [String: String]
    ) -> [Node] {
        let isRelation = LineageKinds.relations.contains(asset.kind)
        if !lineage.below.isEmpty {
            HTML.element("h2") { "Built from" }
            table(
                ["Name", "Kind", "Part of", "Connection"], empty: "",
                rows: lineageRows(lineage.below, descending: true, connectionNames: connectionNames))
        }
        if !lineage.tables.isEmpty {
            HTML.element("h2") { "Warehouse tables" }
            table(
                ["Table", "Status", "Type", "Host", "Database", "Schema", "Name"], empty: "",
                rows: lineage.tables.map(tableUseRow(connectionNames)))
        }
        if isRelation || !lineage.above.isEmpty {
            HTML.element("h2") { "Used by" }
            table(
                ["Name", "Kind", "Part of", "Connection"],
                empty: isRelation
                    ? "No view of this connection and no BI asset of any connection reads this \(asset.kind)."
                    : "Nothing is built from this \(asset.kind).",
                rows: lineageRows(lineage.above, descending: false, connectionNames: connectionNames))
        }
        if lineage.truncated {
            HTML.element("p", Attribute("class", "muted")) {
                "Lineage lists stop at \(LineageView.listLimit) entries; some are not shown."
            }
        }
    }

    /// Lineage assets as table rows, by kind from the warehouse up (or down), then by name.
    private static func lineageRows(
        _ assets: [LineageAsset], descending: Bool, connectionNames: [String: String]
    ) -> [[Node]] {
        assets.sorted {
            let (left, right) = (lineageRank($0.kind), lineageRank($1.kind))
            if left != right { return descending ? left > right : left < right }
            return ($0.name, $0.qualifiedName) < ($1.name, $1.qualifiedName)
        }.map { item in
            [
                HTML.element("a", Attribute("href", lineageLink(item))) { item.name },
                badge(kindLabel(item.kind), tone: "muted"),
                HTML.element("code") { item.parent ?? "" },
                .text(connectionNames[item.connectionId] ?? item.connectionId),
            ]
        }
    }

    private static func tableUseRow(_ connectionNames: [String: String]) -> (TableUse) -> [Node] {
        { use in
            let target = use.target
            let status: Node
            let table: Node
            switch use.resolution {
            case .resolved(let assets):
                status = badge("resolved", tone: "good")
                table = HTML.element("span") {
                    for (index, asset) in assets.enumerated() {
                        if index > 0 { HTML.void("br") }
                        HTML.element("a", Attribute("href", assetLink(asset))) { asset.qualifiedName }
                        " in "
                        connectionNames[asset.connectionId] ?? asset.connectionId
                    }
                }
            case .unresolved(let reason):
                status = badge("unresolved", tone: "warn")
                table = HTML.element("span", Attribute("class", "muted")) { reason }
            }
            return [
                table, status, .text(target.connectionType),
                .text(target.host.map { host in target.port.map { "\(host):\($0)" } ?? host } ?? "—"),
                .text(target.database ?? "—"), .text(target.schema ?? "—"), HTML.element("code") { target.table },
            ]
        }
    }

    /// The stored JSON line, indented when it parses.
    private static func prettyRecord(_ body: [UInt8]) -> String {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            return String(decoding: body, as: UTF8.self)
        }
        return prettyJSON(value)
    }
}
