internal import Metadata

/// A site's projects as a tree: each project's qualified name and path, from the REST API's flat list.
///
/// A project whose parent the token cannot see is placed at the top of the site; a cycle (which Tableau does not
/// allow, but a list can be inconsistent while projects move) is cut where it closes.
struct TableauProjectTree {
    struct Entry {
        var luid: String
        var name: String
        var parentLuid: String?
        var qualifiedName: QualifiedName
        /// The names from the outermost project down to this one, joined with `/`: what project filters match.
        var path: String
        /// The enclosing projects' paths and this one's, outermost first.
        var ancestry: [String]
        var description: String?
        var owner: String?
    }

    private(set) var entries: [String: Entry] = [:]

    init(projects: [TableauProject], site: QualifiedName) {
        var byLuid: [String: TableauProject] = [:]
        for project in projects { byLuid[project.id] = project }
        // Each project's chain of ancestors, outermost first; then parents are named before their children.
        var chains: [(project: TableauProject, chain: [TableauProject])] = []
        for project in projects {
            var chain: [TableauProject] = [project]
            var seen: Set<String> = [project.id]
            var current = project
            while let parentID = current.parentProjectId, let parent = byLuid[parentID], seen.insert(parentID).inserted
            {
                chain.insert(parent, at: 0)
                current = parent
            }
            chains.append((project, chain))
        }
        chains.sort { ($0.chain.count, $0.project.id) < ($1.chain.count, $1.project.id) }
        var usedNames: Set<QualifiedName> = []
        for (project, chain) in chains {
            let parent = chain.count > 1 ? entries[chain[chain.count - 2].id] : nil
            var name = (parent?.qualifiedName ?? site).appending(project.name)
            // Tableau keeps sibling names unique; should two collide all the same, the later one is told apart by
            // its LUID rather than merged.
            if !usedNames.insert(name).inserted {
                name = (parent?.qualifiedName ?? site).appending("\(project.name) [\(project.id)]")
                usedNames.insert(name)
            }
            let path = (parent.map { $0.path + "/" } ?? "") + project.name
            entries[project.id] = Entry(
                luid: project.id, name: project.name, parentLuid: parent?.luid, qualifiedName: name, path: path,
                ancestry: (parent?.ancestry ?? []) + [path], description: project.description,
                owner: project.owner?.name)
        }
    }

    subscript(luid: String) -> Entry? { entries[luid] }

    /// The projects the filters admit, by path: a project is in when it or an enclosing project matches an include
    /// pattern (or there are none), and neither it nor an enclosing project matches an exclude pattern.
    func selected(by filters: ExtractionFilters) -> [Entry] {
        entries.values.filter { entry in
            let included =
                filters.includeSchemas.isEmpty
                || entry.ancestry.contains { path in filters.includeSchemas.contains { $0.matches(path) } }
            let excluded = entry.ancestry.contains { path in filters.excludeSchemas.contains { $0.matches(path) } }
            return included && !excluded
        }.sorted { $0.path < $1.path || ($0.path == $1.path && $0.luid < $1.luid) }
    }
}

/// Names siblings apart: an object keeps its name unless a sibling has the same one, in which case each of them
/// gets ` [id]` after it, so the qualified names stay distinct and do not depend on the order Tableau lists them in.
enum TableauNames {
    static func unique<Item>(_ items: [Item], id: (Item) -> String, name: (Item) -> String) -> [String: String] {
        var counts: [String: Int] = [:]
        for item in items { counts[name(item), default: 0] += 1 }
        var result: [String: String] = [:]
        for item in items {
            let plain = name(item)
            result[id(item)] = counts[plain, default: 0] > 1 ? "\(plain) [\(id(item))]" : plain
        }
        return result
    }
}

extension Optional where Wrapped == String {
    /// The text, or nil when it is missing or empty (Tableau sends `""` for a description never written).
    var nonEmpty: String? {
        guard let self, !self.isEmpty else { return nil }
        return self
    }
}
