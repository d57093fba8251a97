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
    /// expressions, domain checks, partition bounds and keys, clustering keys.
    case definitions
    /// Column and domain default expressions.
    case defaults
    /// Row estimates and sizes.
    case statistics
    /// Owner role names.
    case owners
}

extension ExtractionFilters {
    /// Filters from their textual form (patterns, kind and field-group names), as command lines and job specs
    /// carry them.
    ///
    /// - Throws: `MetadataError` `.invalidFilter` naming the first pattern, kind or field group that is invalid.
    public init(
        includeDatabases: [String] = [], excludeDatabases: [String] = [], includeSchemas: [String] = [],
        excludeSchemas: [String] = [], includeTables: [String] = [], excludeTables: [String] = [],
        excludeKinds: [String] = [], excludeFields: [String] = []
    ) throws {
        self.init()
        self.includeDatabases = try includeDatabases.map(NamePattern.init)
        self.excludeDatabases = try excludeDatabases.map(NamePattern.init)
        self.includeSchemas = try includeSchemas.map(NamePattern.init)
        self.excludeSchemas = try excludeSchemas.map(NamePattern.init)
        self.includeTables = try includeTables.map(NamePattern.init)
        self.excludeTables = try excludeTables.map(NamePattern.init)
        for kind in excludeKinds {
            guard let value = RecordKind(rawValue: kind) else {
                let known = RecordKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw MetadataError(.invalidFilter, "unknown record kind '\(kind)': use one of \(known)")
            }
            self.excludeKinds.insert(value)
        }
        for field in excludeFields {
            guard let value = FieldGroup(rawValue: field) else {
                let known = FieldGroup.allCases.map(\.rawValue).joined(separator: ", ")
                throw MetadataError(.invalidFilter, "unknown field group '\(field)': use one of \(known)")
            }
            self.excludeFields.insert(value)
        }
    }
}
