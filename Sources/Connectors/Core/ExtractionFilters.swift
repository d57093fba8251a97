public import Metadata

/// Which objects an extraction reads and which fields it never emits.
///
/// Name filters: an object is in scope when it matches at least one include pattern (or there are none) and
/// no exclude pattern. Database filters apply to database names, schema filters to schema names, table
/// filters to the names of tables, views and materialized views (their columns, keys, indexes and lineage
/// follow their relation). Exclusions are applied to every record before it is written.
public struct ExtractionFilters: Sendable {
    public var includeDatabases: [NamePattern] = []
    public var excludeDatabases: [NamePattern] = []
    public var includeSchemas: [NamePattern] = []
    public var excludeSchemas: [NamePattern] = []
    public var includeTables: [NamePattern] = []
    public var excludeTables: [NamePattern] = []
    /// Kinds never emitted (e.g. `function`, `lineageEdge`).
    public var excludeKinds: Set<RecordKind> = []
    /// Field groups never emitted.
    public var excludeFields: Set<FieldGroup> = []

    public init() {}

    public func admitsDatabase(_ name: String) -> Bool { Self.admits(name, includeDatabases, excludeDatabases) }
    public func admitsSchema(_ name: String) -> Bool { Self.admits(name, includeSchemas, excludeSchemas) }
    public func admitsTable(_ name: String) -> Bool { Self.admits(name, includeTables, excludeTables) }

    private static func admits(_ name: String, _ include: [NamePattern], _ exclude: [NamePattern]) -> Bool {
        (include.isEmpty || include.contains { $0.matches(name) }) && !exclude.contains { $0.matches(name) }
    }

    /// The filters as the manifest records them.
    public var manifestFilters: Manifest.Filters {
        Manifest.Filters(
            includeDatabases: includeDatabases.map(\.description),
            excludeDatabases: excludeDatabases.map(\.description),
            includeSchemas: includeSchemas.map(\.description),
            excludeSchemas: excludeSchemas.map(\.description),
            includeTables: includeTables.map(\.description),
            excludeTables: excludeTables.map(\.description),
            excludeKinds: excludeKinds.map(\.rawValue).sorted(),
            excludeFields: excludeFields.map(\.rawValue).sorted())
    }
}

/// Groups of fields that local policy can keep out of every record (data minimisation).
public enum FieldGroup: String, Sendable, CaseIterable {
    /// `comment` on every kind.
    case comments
    /// View and materialized view SQL, index definitions and predicates, check expressions, generation
    /// expressions, domain checks, partition bounds and keys.
    case definitions
    /// Column and domain default expressions.
    case defaults
    /// Row estimates and sizes.
    case statistics
    /// Owner role names.
    case owners
}
