import ControlPlaneStorage
import Metadata

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// The catalog's search and browse pages: connections, a tree of databases, schemas and their contents with
// counts, and search by words with facets; sorted and paged everywhere, every state a link.

extension UIViews {
    /// Kinds whose page is a listing of their contents (browsed) rather than a record's page.
    static let browsedKinds: Set<String> = [
        RecordKind.database.rawValue, RecordKind.schema.rawValue, RecordKind.site.rawValue,
        RecordKind.project.rawValue,
    ]

    /// Where an asset opens: a container's contents, any other asset's page.
    static func openLink(connectionId: String, kind: String, qualifiedName: String) -> String {
        browsedKinds.contains(kind)
            ? HTML.link("/ui/catalog/browse", ["connectionId": connectionId, "parent": qualifiedName])
            : HTML.link(
                "/ui/catalog/asset", ["connectionId": connectionId, "kind": kind, "qualifiedName": qualifiedName])
    }

    static func openLink(_ asset: CatalogAsset) -> String {
        openLink(connectionId: asset.connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName)
    }

    /// A link to an asset known by its qualified name only (a parent, a referenced table): the server finds its kind.
    static func nameLink(connectionId: String, qualifiedName: String) -> String {
        HTML.link("/ui/catalog/asset", ["connectionId": connectionId, "qualifiedName": qualifiedName])
    }

    /// `materializedView` → `materialized view`, `customSQL` → `custom SQL`.
    static func kindLabel(_ kind: String) -> String {
        var words: [String] = []
        var current = ""
        for character in kind {
            if character.isUppercase && !current.isEmpty && !(current.last?.isUppercase ?? false) {
                words.append(current)
                current = ""
            }
            current.append(character)
        }
        words.append(current)
        return words.map { $0.count > 1 && $0.allSatisfy(\.isUppercase) ? $0 : $0.lowercased() }.joined(
            separator: " ")
    }

    /// `3 tables`, `1 index`, `2 indexes`.
    static func counted(_ count: Int, _ kind: String) -> String {
        let label = kindLabel(kind)
        guard count != 1 else { return "1 \(label)" }
        if label.hasSuffix("index") { return "\(count) \(label)es" }
        if label == "custom SQL" { return "\(count) custom SQL queries" }
        return "\(count) \(label)s"
    }

    /// What a container holds, most frequent kinds first: `12 tables, 3 views`.
    static func contentsSummary(_ counts: [String: Int]?) -> String {
        guard let counts, !counts.isEmpty else { return "—" }
        return counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { counted($0.value, $0.key) }.joined(
            separator: ", ")
    }

    /// A record's comment, cut to a line.
    static func shortComment(_ asset: CatalogAsset) -> String {
        guard let record = try? JSONDecoder().decode(MetadataRecord.self, from: Data(asset.body)),
            let comment = record.comment?.trimmingWhitespace, !comment.isEmpty
        else { return "" }
        let line = comment.split(whereSeparator: \.isNewline).first.map(String.init) ?? comment
        return line.count > 120 ? String(line.prefix(119)) + "…" : line
    }

    // MARK: Pages

    /// The catalog's first page: a search box and the connections to browse, with how much each holds.
    static func catalogLandingPage(
        connections: [ConnectionRecord], assetCounts: [String: Int], csrf: String
    ) -> Node {
        page(title: "Catalog", section: .catalog, csrf: csrf) {
            catalogSearchForm(CatalogListing())
            HTML.element("h2") { "Browse by connection" }
            table(
                ["Connection", "Source", "Assets"],
                empty: "No connection yet: add one under Connections and run it to fill the catalog.",
                rows: connections.map { connection in
                    let count = assetCounts[connection.id] ?? 0
                    return [
                        count == 0
                            ? .text(connection.name)
                            : HTML.element(
                                "a", Attribute("href", HTML.link("/ui/catalog/browse", ["connectionId": connection.id]))
                            ) { connection.name },
                        badge(connection.sourceKind, tone: "muted"),
                        .text(count == 0 ? "not extracted yet" : String(count)),
                    ]
                }, numeric: [2])
        }
    }

    /// Search results with facets, sorting and pages.
    static func catalogSearchPage(
        listing: CatalogListing, results: CatalogPage, facets: CatalogFacets?, names: [String: String],
        error: String?, csrf: String
    ) -> Node {
        let path = "/ui/catalog"
        return page(title: "Catalog", section: .catalog, csrf: csrf) {
            catalogSearchForm(listing)
            if let error { notice(error) }
            HTML.element("div", Attribute("class", "catalog")) {
                if let facets {
                    HTML.element("aside", Attribute("class", "facets"), Attribute("aria-label", "Refine")) {
                        facetList(
                            "Kind", facets.kinds, selected: listing.kind, label: kindLabel,
                            link: { value in listing.link(path) { $0.kind = value } })
                        facetList(
                            "Connection", facets.connections, selected: listing.connectionId,
                            label: { names[$0] ?? $0 },
                            link: { value in listing.link(path) { $0.connectionId = value } })
                        facetList(
                            "Database", facets.databases, selected: listing.database, label: { $0 },
                            link: { value in listing.link(path) { $0.database = value } })
                        facetList(
                            "Schema", facets.schemas, selected: listing.schema, label: { $0 },
                            link: { value in listing.link(path) { $0.schema = value } })
                    }
                }
                HTML.element("section", Attribute("class", "results")) {
                    assetListing(
                        listing, path: path, results: results, columns: ["Part of", "Connection"],
                        commentUnderName: true, empty: "Nothing matches."
                    ) { asset in
                        [
                            asset.parent.map { parent in
                                HTML.element(
                                    "a",
                                    Attribute("href", nameLink(connectionId: asset.connectionId, qualifiedName: parent))
                                ) { HTML.element("code") { parent } }
                            } ?? .text(""),
                            .text(names[asset.connectionId] ?? asset.connectionId),
                        ]
                    }
                }
            }
        }
    }

    /// One level of a connection's tree: its top level, or a container's contents, with counts per kind, their own
    /// contents counted, sorted and paged.
    static func catalogBrowsePage(
        listing: CatalogListing, connection: ConnectionRecord, trail: [CatalogAsset], here: CatalogAsset?,
        kinds: [CatalogFacets.Value], results: CatalogPage, contents: [String: [String: Int]], csrf: String
    ) -> Node {
        let path = "/ui/catalog/browse"
        let title = here?.name ?? connection.name
        return page(title: title, section: .catalog, csrf: csrf) {
            HTML.element("nav", Attribute("class", "crumbs"), Attribute("aria-label", "Breadcrumb")) {
                link("Catalog", to: "/ui/catalog")
                " › "
                if here == nil {
                    connection.name
                } else {
                    link(connection.name, to: HTML.link(path, ["connectionId": connection.id]))
                }
                for ancestor in trail {
                    " › "
                    link(ancestor.name, to: openLink(ancestor))
                }
                if let here {
                    " › "
                    HTML.element("span", Attribute("aria-current", "page")) { here.name }
                }
            }
            if let here {
                HTML.element("p") {
                    badge(kindLabel(here.kind), tone: "muted")
                    " "
                    HTML.element("code") { here.qualifiedName }
                    " · "
                    link(
                        "Record",
                        to: HTML.link(
                            "/ui/catalog/asset",
                            [
                                "connectionId": here.connectionId, "kind": here.kind,
                                "qualifiedName": here.qualifiedName,
                                "record": "1",
                            ]))
                }
                let comment = shortComment(here)
                if !comment.isEmpty { HTML.element("p", Attribute("class", "muted")) { comment } }
            }
            HTML.element(
                "form", Attribute("method", "get"), Attribute("action", "/ui/catalog"), Attribute("class", "toolbar"),
                Attribute("role", "search")
            ) {
                HTML.void(
                    "input", Attribute("type", "hidden"), Attribute("name", "connectionId"),
                    Attribute("value", connection.id))
                if let here, here.kind == RecordKind.database.rawValue || here.kind == RecordKind.site.rawValue {
                    HTML.void(
                        "input", Attribute("type", "hidden"), Attribute("name", "database"),
                        Attribute("value", here.qualifiedName))
                } else if let here, here.kind == RecordKind.schema.rawValue || here.kind == RecordKind.project.rawValue
                {
                    HTML.void(
                        "input", Attribute("type", "hidden"), Attribute("name", "schema"),
                        Attribute("value", here.qualifiedName))
                }
                HTML.element("label", Attribute("for", "q"), Attribute("class", "muted")) { "Search in \(title)" }
                HTML.void(
                    "input", Attribute("type", "search"), Attribute("id", "q"), Attribute("name", "q"),
                    Attribute("maxlength", "200"))
                HTML.element("button", Attribute("type", "submit"), Attribute("class", "secondary")) { "Search" }
            }
            if kinds.count > 1 || listing.kind != nil {
                HTML.element("nav", Attribute("class", "tabs"), Attribute("aria-label", "Kinds")) {
                    let all = kinds.reduce(0) { $0 + $1.count }
                    HTML.element(
                        "a", Attribute("href", listing.link(path) { $0.kind = nil }),
                        Attribute("aria-current", listing.kind == nil ? "page" : nil)
                    ) {
                        "All (\(all))"
                    }
                    for value in kinds {
                        HTML.element(
                            "a", Attribute("href", listing.link(path) { $0.kind = value.value }),
                            Attribute("aria-current", listing.kind == value.value ? "page" : nil)
                        ) {
                            "\(kindLabel(value.value)) (\(value.count))"
                        }
                    }
                }
            }
            assetListing(
                listing, path: path, results: results, columns: ["Contains", "Comment"], commentUnderName: false,
                empty: "Nothing here."
            ) { asset in
                [.text(contentsSummary(contents[asset.qualifiedName])), .text(shortComment(asset))]
            }
        }
    }

    // MARK: Parts

    /// A page of assets: how many, a table sortable by name, kind and last change with `columns` between (their
    /// cells from `cells`), and the pager.
    static func assetListing(
        _ listing: CatalogListing, path: String, results: CatalogPage, columns: [String], commentUnderName: Bool,
        empty: String, cells: (CatalogAsset) -> [Node]
    ) -> Node {
        HTML.element("div") {
            pageSummary(listing, total: results.total, shown: results.assets.count)
            HTML.element("div", Attribute("class", "table-wrap")) {
                HTML.element("table") {
                    HTML.element("thead") {
                        HTML.element("tr") {
                            sortHeader("Name", .name, listing, path)
                            sortHeader("Kind", .kind, listing, path)
                            for column in columns { HTML.element("th", Attribute("scope", "col")) { column } }
                            sortHeader("Last changed", .updated, listing, path)
                        }
                    }
                    HTML.element("tbody") {
                        for asset in results.assets {
                            HTML.element("tr") {
                                HTML.element("td") {
                                    HTML.element("a", Attribute("href", openLink(asset))) { asset.name }
                                    let comment = commentUnderName ? shortComment(asset) : ""
                                    if !comment.isEmpty {
                                        HTML.element("div", Attribute("class", "muted small")) { comment }
                                    }
                                }
                                HTML.element("td") { badge(kindLabel(asset.kind), tone: "muted") }
                                for cell in cells(asset) { HTML.element("td") { cell } }
                                HTML.element("td") {
                                    link(asset.runId, to: "/ui/runs/\(HTML.percentEncode(asset.runId))")
                                }
                            }
                        }
                    }
                }
            }
            if results.assets.isEmpty {
                HTML.element("p", Attribute("class", "empty")) {
                    results.total > 0 ? "This page is past the last entry." : empty
                }
            }
            pager(listing, path: path, total: results.total)
        }
    }

    static func catalogSearchForm(_ listing: CatalogListing) -> Node {
        HTML.element(
            "form", Attribute("method", "get"), Attribute("action", "/ui/catalog"), Attribute("class", "toolbar"),
            Attribute("role", "search")
        ) {
            // Filters chosen from the facets stay while the words change.
            for (name, value) in [
                ("connectionId", listing.connectionId), ("database", listing.database), ("schema", listing.schema),
            ] {
                if let value {
                    HTML.void("input", Attribute("type", "hidden"), Attribute("name", name), Attribute("value", value))
                }
            }
            HTML.element("label", Attribute("for", "q"), Attribute("class", "muted")) { "Search" }
            HTML.void(
                "input", Attribute("type", "search"), Attribute("id", "q"), Attribute("name", "q"),
                Attribute("value", listing.text), Attribute("placeholder", "words in names or comments, \"a phrase\""),
                Attribute("maxlength", "200"))
            HTML.element("select", Attribute("name", "kind"), Attribute("aria-label", "Kind")) {
                HTML.element("option", Attribute("value", ""), Attribute("selected", listing.kind == nil ? "" : nil)) {
                    "Any kind"
                }
                for candidate in RecordKind.allCases {
                    HTML.element(
                        "option", Attribute("value", candidate.rawValue),
                        Attribute("selected", candidate.rawValue == listing.kind ? "" : nil)
                    ) { kindLabel(candidate.rawValue) }
                }
            }
            HTML.element("button", Attribute("type", "submit"), Attribute("class", "primary")) { "Search" }
        }
    }

    /// One facet: its values with their counts, each a link that sets the filter; the chosen one can be cleared.
    static func facetList(
        _ title: String, _ values: [CatalogFacets.Value], selected: String?, label: (String) -> String,
        link: (String?) -> String
    ) -> Node {
        HTML.element("section", Attribute("class", "facet")) {
            HTML.element("h3") { title }
            if values.isEmpty {
                HTML.element("p", Attribute("class", "muted small")) { "—" }
            } else {
                HTML.element("ul") {
                    for value in values {
                        HTML.element("li") {
                            if value.value == selected {
                                HTML.element("strong") { label(value.value) }
                                " (\(value.count)) "
                                HTML.element(
                                    "a", Attribute("href", link(nil)),
                                    Attribute("aria-label", "Clear the \(title.lowercased()) filter")
                                ) { "×" }
                            } else {
                                HTML.element("a", Attribute("href", link(value.value))) { label(value.value) }
                                " (\(value.count))"
                            }
                        }
                    }
                }
            }
        }
    }

    /// A column header that sorts by `order`; chosen again, it reverses the order.
    static func sortHeader(
        _ title: String, _ order: CatalogQuery.Order, _ listing: CatalogListing, _ path: String
    ) -> Node {
        let current = listing.order == order
        return HTML.element(
            "th", Attribute("scope", "col"),
            Attribute("aria-sort", current ? (listing.descending ? "descending" : "ascending") : nil)
        ) {
            HTML.element(
                "a",
                Attribute(
                    "href",
                    listing.link(path) {
                        $0.descending = current ? !listing.descending : order == .updated
                        $0.order = order
                    })
            ) { title + (current ? (listing.descending ? " ▼" : " ▲") : "") }
        }
    }

    /// "51–100 of 1,234".
    static func pageSummary(_ listing: CatalogListing, total: Int, shown: Int) -> Node {
        HTML.element("p", Attribute("class", "muted"), Attribute("id", "page-summary")) {
            total == 0
                ? "No entries."
                : shown == 0
                    ? "\(total) in all."
                    : "\(listing.offset + 1)–\(listing.offset + shown) of \(total)"
        }
    }

    /// Links to the first, previous, next and last pages, where there are such pages.
    static func pager(_ listing: CatalogListing, path: String, total: Int) -> Node {
        let size = CatalogListing.pageSize
        let last = total == 0 ? 0 : (total - 1) / size * size
        return HTML.element("nav", Attribute("class", "pager"), Attribute("aria-label", "Pages")) {
            if listing.offset > 0 {
                HTML.element("a", Attribute("href", listing.link(path, keepingPage: true) { $0.offset = 0 })) {
                    "« First"
                }
                HTML.element(
                    "a", Attribute("rel", "prev"),
                    Attribute(
                        "href", listing.link(path, keepingPage: true) { $0.offset = max(0, listing.offset - size) })
                ) { "‹ Previous" }
            }
            if listing.offset + size < total {
                HTML.element(
                    "a", Attribute("rel", "next"),
                    Attribute("href", listing.link(path, keepingPage: true) { $0.offset = listing.offset + size })
                ) { "Next ›" }
                HTML.element("a", Attribute("href", listing.link(path, keepingPage: true) { $0.offset = last })) {
                    "Last »"
                }
            }
        }
    }
}
