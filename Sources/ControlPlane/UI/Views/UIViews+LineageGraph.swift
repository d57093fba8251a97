import ControlPlaneStorage

// An asset's lineage graph, drawn on the server as SVG: no script, so the strict CSP holds and a graph of a
// thousand nodes is a static drawing the browser scrolls, never a layout it computes.

extension UIViews {
    private static var columnWidth: Int { 260 }
    private static var nodeWidth: Int { 216 }
    private static var nodeHeight: Int { 26 }
    private static var rowHeight: Int { 36 }
    private static var margin: Int { 16 }

    static func lineageGraphLink(_ asset: LineageAsset, depth: Int) -> String {
        HTML.link(
            "/ui/catalog/lineage",
            [
                "connectionId": asset.connectionId, "kind": asset.kind, "qualifiedName": asset.qualifiedName,
                "depth": depth == LineageGraph.defaultDepth ? nil : String(depth),
            ])
    }

    static func lineageGraphPage(
        graph: LineageGraph, connectionName: String?, depth: Int, csrf: String
    ) -> Node {
        let center = graph.center
        return page(title: "Lineage of \(center.name)", section: .catalog, csrf: csrf) {
            HTML.element("nav", Attribute("class", "crumbs"), Attribute("aria-label", "Breadcrumb")) {
                link("Catalog", to: "/ui/catalog")
                " › "
                link(
                    connectionName ?? center.connectionId,
                    to: HTML.link("/ui/catalog/browse", ["connectionId": center.connectionId]))
                " › "
                link(
                    center.name,
                    to: openLink(
                        connectionId: center.connectionId, kind: center.kind, qualifiedName: center.qualifiedName))
            }
            HTML.element("div", Attribute("class", "toolbar")) {
                HTML.element("span", Attribute("class", "muted")) { "Depth" }
                HTML.element("nav", Attribute("class", "tabs"), Attribute("aria-label", "Depth")) {
                    for candidate in 1...LineageGraph.maximumDepth {
                        HTML.element(
                            "a", Attribute("href", lineageGraphLink(center, depth: candidate)),
                            Attribute("aria-current", candidate == depth ? "page" : nil)
                        ) { String(candidate) }
                    }
                }
                HTML.element("span", Attribute("class", "muted"), Attribute("id", "graph-summary")) {
                    "\(graph.nodes.count) assets, \(graph.links.count) links; built from it on the left, built on it on the right"
                }
            }
            if graph.truncated {
                notice(
                    "The graph stops at \(LineageGraph.linkLimit) links each way; choose a smaller depth to see all of it.",
                    tone: "warn")
            }
            if graph.links.isEmpty {
                HTML.element("p", Attribute("class", "empty")) {
                    "No lineage is known for this \(kindLabel(center.kind)) inside its connection."
                }
            } else {
                HTML.element("div", Attribute("class", "graph"), Attribute("tabindex", "0")) {
                    lineageSVG(graph, depth: depth)
                }
                HTML.element("details") {
                    HTML.element("summary") { "The links as a list" }
                    table(
                        ["From", "Kind", "To", "Kind"], empty: "",
                        rows: graph.links.map { link in
                            let (from, to) = (graph.nodes[link.from].asset, graph.nodes[link.to].asset)
                            return [
                                HTML.element("a", Attribute("href", lineageGraphLink(from, depth: depth))) {
                                    from.name
                                },
                                badge(kindLabel(from.kind), tone: "muted"),
                                HTML.element("a", Attribute("href", lineageGraphLink(to, depth: depth))) { to.name },
                                badge(kindLabel(to.kind), tone: "muted"),
                            ]
                        })
                }
            }
        }
    }

    /// The graph as an SVG element: a column per layer, links as curves from a node's right side to the next one's
    /// left side, each node a link to its own graph.
    static func lineageSVG(_ graph: LineageGraph, depth: Int) -> Node {
        let minimum = graph.nodes.map(\.layer).min() ?? 0
        let maximum = graph.nodes.map(\.layer).max() ?? 0
        let rows = graph.nodes.map(\.row).max() ?? 0
        let width = (maximum - minimum) * columnWidth + nodeWidth + 2 * margin
        let height = rows * rowHeight + nodeHeight + 2 * margin
        func x(_ node: LineageGraph.Node) -> Int { margin + (node.layer - minimum) * columnWidth }
        func y(_ node: LineageGraph.Node) -> Int { margin + node.row * rowHeight }
        return HTML.element(
            "svg", Attribute("xmlns", "http://www.w3.org/2000/svg"), Attribute("class", "lineage"),
            Attribute("width", String(width)), Attribute("height", String(height)),
            Attribute("viewBox", "0 0 \(width) \(height)"), Attribute("role", "img"),
            Attribute("aria-label", "Lineage graph of \(graph.center.name)")
        ) {
            HTML.element("g", Attribute("class", "links")) {
                for link in graph.links {
                    let (from, to) = (graph.nodes[link.from], graph.nodes[link.to])
                    let (x1, y1) = (x(from) + nodeWidth, y(from) + nodeHeight / 2)
                    let (x2, y2) = (x(to), y(to) + nodeHeight / 2)
                    let bend = max(abs(x2 - x1) / 2, 24)
                    // SVG elements are closed explicitly: HTML's void elements do not exist in foreign content.
                    HTML.element(
                        "path", Attribute("d", "M\(x1) \(y1) C\(x1 + bend) \(y1) \(x2 - bend) \(y2) \(x2) \(y2)")
                    ) {}
                }
            }
            HTML.element("g", Attribute("class", "nodes")) {
                for (index, node) in graph.nodes.enumerated() {
                    let asset = node.asset
                    HTML.element("a", Attribute("href", lineageGraphLink(asset, depth: depth))) {
                        HTML.element("title") { "\(kindLabel(asset.kind)) \(asset.qualifiedName)" }
                        HTML.element(
                            "rect", Attribute("x", String(x(node))), Attribute("y", String(y(node))),
                            Attribute("width", String(nodeWidth)), Attribute("height", String(nodeHeight)),
                            Attribute("rx", "4"),
                            Attribute("class", "k-\(asset.kind)" + (index == 0 ? " center" : ""))
                        ) {}
                        HTML.element(
                            "text", Attribute("x", String(x(node) + 8)), Attribute("y", String(y(node) + 17))
                        ) { asset.name.count > 30 ? String(asset.name.prefix(29)) + "…" : asset.name }
                    }
                }
            }
        }
    }
}
