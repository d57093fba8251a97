import ControlPlaneStorage

/// An asset's lineage inside its connection as a layered graph: what it is built from to the left (negative
/// layers), what is built from it to the right, each node in the layer of the longest path that reaches it (so links
/// point rightwards), nodes in a layer ordered to keep links short.
struct LineageGraph: Sendable {
    struct Node: Sendable, Equatable {
        var asset: LineageAsset
        var layer: Int
        /// Position in its layer, from the top.
        var row: Int
    }

    var center: LineageAsset
    var nodes: [Node]
    /// Pairs of indices into `nodes`: `from` feeds `to`.
    var links: [(from: Int, to: Int)]
    var truncated: Bool

    static var maximumDepth: Int { 6 }
    static var defaultDepth: Int { 2 }
    /// How many links each direction's walk returns at most.
    static var linkLimit: Int { 1000 }

    /// Lays out the links of the two walks around `center`.
    init(center: LineageAsset, below: [LineageLink], above: [LineageLink], depth: Int, truncated: Bool) {
        self.center = center
        self.truncated = truncated
        var index: [LineageAsset: Int] = [center: 0]
        var assets = [center]
        var layer = [0]
        func node(_ asset: LineageAsset) -> Int {
            if let found = index[asset] { return found }
            index[asset] = assets.count
            assets.append(asset)
            layer.append(0)
            return assets.count - 1
        }
        var edges = Set<[Int]>()
        var belowEdges: [(Int, Int)] = []
        var aboveEdges: [(Int, Int)] = []
        for link in below {
            let (from, to) = (node(link.from), node(link.to))
            if from != to && edges.insert([from, to]).inserted { belowEdges.append((from, to)) }
        }
        for link in above {
            let (from, to) = (node(link.from), node(link.to))
            if from != to && edges.insert([from, to]).inserted { aboveEdges.append((from, to)) }
        }
        // Longest-path layering, by relaxation: at most `depth` rounds per side, since no walk goes deeper. What
        // it is built from goes left, what is built from it right; a node reached both ways (a cycle through the
        // center) stays on the left.
        var placed = Set([0])
        func relax(_ edges: [(Int, Int)], sign: Int) {
            for _ in 0..<max(depth, 1) {
                var changed = false
                for (from, to) in edges {
                    let (known, moved) = sign < 0 ? (to, from) : (from, to)
                    guard placed.contains(known), moved != 0 else { continue }
                    let wanted = sign < 0 ? max(layer[known] - 1, -depth) : min(layer[known] + 1, depth)
                    if !placed.contains(moved) {
                        placed.insert(moved)
                        layer[moved] = wanted
                        changed = true
                    } else if layer[moved].signum() == sign && abs(wanted) > abs(layer[moved]) {
                        layer[moved] = wanted
                        changed = true
                    }
                }
                if !changed { break }
            }
        }
        relax(belowEdges, sign: -1)
        relax(aboveEdges, sign: 1)
        // Rows: each layer by name first, then once ordered by the mean row of the neighbours in the layer nearer
        // the center (a barycenter pass), which keeps most links short and uncrossed.
        let allEdges = belowEdges + aboveEdges
        var byLayer: [Int: [Int]] = [:]
        for node in 0..<assets.count where placed.contains(node) { byLayer[layer[node], default: []].append(node) }
        var row = [Int](repeating: 0, count: assets.count)
        for (key, members) in byLayer {
            byLayer[key] = members.sorted {
                (assets[$0].name, assets[$0].qualifiedName) < (assets[$1].name, assets[$1].qualifiedName)
            }
            for (position, member) in byLayer[key]!.enumerated() { row[member] = position }
        }
        var neighbours = [[Int]](repeating: [], count: assets.count)
        for (from, to) in allEdges {
            neighbours[from].append(to)
            neighbours[to].append(from)
        }
        for distance in 1...max(depth, 1) {
            for key in [-distance, distance] {
                guard let members = byLayer[key] else { continue }
                let inner = key < 0 ? key + 1 : key - 1
                let ordered = members.map { member -> (Double, Int) in
                    let near = neighbours[member].filter { placed.contains($0) && layer[$0] == inner }
                    let mean =
                        near.isEmpty
                        ? Double(row[member]) : Double(near.map { row[$0] }.reduce(0, +)) / Double(near.count)
                    return (mean, member)
                }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : row[$0.1] < row[$1.1] }.map(\.1)
                byLayer[key] = ordered
                for (position, member) in ordered.enumerated() { row[member] = position }
            }
        }
        var kept: [Int: Int] = [:]
        var nodes: [Node] = []
        for member in 0..<assets.count where placed.contains(member) {
            kept[member] = nodes.count
            nodes.append(Node(asset: assets[member], layer: layer[member], row: row[member]))
        }
        self.nodes = nodes
        links = allEdges.compactMap { from, to in
            guard let from = kept[from], let to = kept[to] else { return nil }
            return (from, to)
        }
    }
}
