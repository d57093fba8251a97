import ControlPlaneStorage

/// What a catalog page lists, as its query string says: the search words, the facet filters, the place being
/// browsed, the order and the page. Read from the URL and written back into every link, so each state of the page
/// is a plain link: the back button, bookmarks and the keyboard all work, and no script is needed.
struct CatalogListing: Sendable, Equatable {
    static var pageSize: Int { 50 }

    var text = ""
    var kind: String?
    var connectionId: String?
    var database: String?
    var schema: String?
    /// Browsing: the qualified name whose children are listed (nil: the connection's top level).
    var parent: String?
    var order: CatalogQuery.Order = .name
    var descending = false
    var offset = 0

    init() {}

    /// The listing a query string asks for, checked by the admin API's rules (a bad value throws its 400).
    init<Store: ControlPlaneStore>(fields: FormFields, store: Store.Type) throws {
        let query = try CatalogController<Store>.query(fields)
        text = fields["q"]?.trimmingWhitespace ?? ""
        kind = query.kinds.first
        connectionId = query.connectionId
        database = query.database
        schema = query.schema
        if case .children(let parent) = query.place { self.parent = parent }
        order = query.order
        descending = query.descending
        offset = query.offset
    }

    /// Whether anything narrows the listing (words or a filter): otherwise the catalog page offers its connections.
    var isNarrowed: Bool {
        !text.isEmpty || kind != nil || connectionId != nil || database != nil || schema != nil
    }

    /// The store query for one page; browsing (`browsing` true) lists the parent's children, or the top level.
    func query(browsing: Bool = false) -> CatalogQuery {
        CatalogQuery(
            terms: CatalogQuery.terms(in: text), kinds: kind.map { [$0] } ?? [],
            connectionId: connectionId, database: database, schema: schema,
            place: browsing ? (parent.map { .children(of: $0) } ?? .topLevel) : .anywhere, order: order,
            descending: descending, offset: offset, limit: Self.pageSize)
    }

    /// This listing with `change` applied, as a link to `path`; every change but paging starts at the first page.
    func link(_ path: String, keepingPage: Bool = false, _ change: (inout CatalogListing) -> Void = { _ in }) -> String
    {
        var changed = self
        change(&changed)
        if !keepingPage && changed != self { changed.offset = 0 }
        let pairs: KeyValuePairs<String, String?> = [
            "q": changed.text, "kind": changed.kind, "connectionId": changed.connectionId,
            "database": changed.database, "schema": changed.schema, "parent": changed.parent,
            "sort": changed.order == .name ? nil : changed.order.rawValue,
            "order": changed.descending ? "desc" : nil, "offset": changed.offset == 0 ? nil : String(changed.offset),
        ]
        return HTML.link(path, pairs)
    }
}
