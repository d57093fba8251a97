/// What the exporter learns in its first pass over an extraction: everything an aspect needs that arrives after
/// the record the aspect is written for, kept per dataset in compact form.
///
/// Memory grows with the number of relations, keys, indexes and lineage edges, never with the number of
/// columns: of columns only a count per relation is kept, plus whether each relation's columns arrived as one
/// consecutive run.
struct DataHubExportPlan {
    /// A foreign key, as `schemaMetadata` needs it.
    struct ForeignKey {
        var name: String
        var columns: [String]
        var referencedTable: QualifiedName
        var referencedColumns: [String]
    }

    /// What is known about one dataset beyond its own record.
    struct Dataset {
        /// Whether the extraction holds the relation record itself (not only columns, keys or lineage).
        var hasRelationRecord = false
        var columnCount = 0
        var primaryKey: [String] = []
        var foreignKeys: [ForeignKey] = []
        /// One line per unique constraint, check constraint and index: `name: detail`.
        var uniqueConstraints: [String] = []
        var checkConstraints: [String] = []
        var indexes: [String] = []
        /// The relations this one reads, in first-seen order, without repeats.
        var upstreams: [QualifiedName] = []
    }

    private(set) var datasets: [QualifiedName: Dataset] = [:]
    /// Tables in the order their first column arrived.
    private(set) var tablesByFirstColumn: [QualifiedName] = []
    /// True while every relation's columns arrived as one consecutive run, so `schemaMetadata` can be written
    /// each time the run changes, holding one relation's columns at a time.
    private(set) var columnsGroupedByTable = true
    private(set) var totalColumns = 0
    /// Database and schema records seen (their qualified names).
    private(set) var databaseRecords: Set<QualifiedName> = []
    private(set) var schemaRecords: Set<QualifiedName> = []
    /// Schemas relations live in, with their database, so containers missing from the extraction can be written.
    private(set) var referencedSchemas: [QualifiedName: QualifiedName] = [:]
    /// Records of kinds DataHub's file format has no place for.
    private(set) var droppedRecords: [RecordKind: Int] = [:]

    private var lastColumnTable: QualifiedName?

    /// Takes one record of the first pass.
    mutating func collect(_ record: MetadataRecord) {
        switch record {
        case .database(let database):
            databaseRecords.insert(database.qualifiedName)
        case .schema(let schema):
            schemaRecords.insert(schema.qualifiedName)
        case .relation(let relation):
            datasets[relation.qualifiedName, default: Dataset()].hasRelationRecord = true
            referencedSchemas[relation.schema] = relation.database
        case .column(let column):
            collect(column)
        case .constraint(let constraint):
            collect(constraint)
        case .index(let index):
            datasets[index.table, default: Dataset()].indexes.append(Self.describe(index))
        case .lineageEdge(let edge):
            if datasets[edge.downstream, default: Dataset()].upstreams.contains(edge.upstream) { return }
            datasets[edge.downstream, default: Dataset()].upstreams.append(edge.upstream)
        case .enumType, .domainType, .function, .bi:
            droppedRecords[record.kind, default: 0] += 1
        }
    }

    private mutating func collect(_ column: Column) {
        totalColumns += 1
        if column.table == lastColumnTable {
            datasets[column.table, default: Dataset()].columnCount += 1
            return
        }
        lastColumnTable = column.table
        let seenBefore = (datasets[column.table]?.columnCount ?? 0) > 0
        if seenBefore {
            columnsGroupedByTable = false
        } else {
            tablesByFirstColumn.append(column.table)
        }
        datasets[column.table, default: Dataset()].columnCount += 1
    }

    private mutating func collect(_ constraint: Constraint) {
        switch constraint.kind {
        case .primaryKey:
            datasets[constraint.table, default: Dataset()].primaryKey = constraint.columns
        case .foreignKey:
            guard let referencedTable = constraint.referencedTable else { return }
            let foreignKey = ForeignKey(
                name: constraint.name, columns: constraint.columns, referencedTable: referencedTable,
                referencedColumns: constraint.referencedColumns ?? [])
            datasets[constraint.table, default: Dataset()].foreignKeys.append(foreignKey)
        case .uniqueConstraint:
            let line = constraint.name + ": UNIQUE (" + constraint.columns.joined(separator: ", ") + ")"
            datasets[constraint.table, default: Dataset()].uniqueConstraints.append(line)
        case .checkConstraint:
            let line = constraint.name + ": " + (constraint.expression ?? constraint.columns.joined(separator: ", "))
            datasets[constraint.table, default: Dataset()].checkConstraints.append(line)
        }
    }

    /// One line for an index: the source's own `CREATE INDEX` text when it has one, else a summary.
    static func describe(_ index: Index) -> String {
        if let definition = index.definition { return definition }
        let keys = index.keys.map { key in
            (key.column ?? key.expression ?? "?") + (key.descending == true ? " DESC" : "")
        }
        var line = index.name + ": " + (index.unique ? "UNIQUE " : "")
        if let method = index.method { line += method + " " }
        line += "(" + keys.joined(separator: ", ") + ")"
        if let included = index.includedColumns, !included.isEmpty {
            line += " INCLUDE (" + included.joined(separator: ", ") + ")"
        }
        if let predicate = index.predicate { line += " WHERE " + predicate }
        return line
    }

    /// Splits the tables that have columns into consecutive groups of at most `maxColumns` columns (a larger
    /// table forms a group alone), each to be read in one pass when columns are not grouped by table.
    func columnWindows(maxColumns: Int) -> [[QualifiedName]] {
        var windows: [[QualifiedName]] = []
        var current: [QualifiedName] = []
        var currentColumns = 0
        for table in tablesByFirstColumn {
            let columns = datasets[table]?.columnCount ?? 0
            if !current.isEmpty && currentColumns + columns > maxColumns {
                windows.append(current)
                current = []
                currentColumns = 0
            }
            current.append(table)
            currentColumns += columns
        }
        if !current.isEmpty { windows.append(current) }
        return windows
    }
}
