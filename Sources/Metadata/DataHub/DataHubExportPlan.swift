/// What the exporter learns in its first pass over an extraction: everything an aspect needs that arrives after
/// the record the aspect is written for, kept per dataset in compact form.
///
/// Memory grows with the number of relations, keys, indexes and lineage edges, never with the number of
/// columns: of columns only a count per relation is kept, plus whether each relation's columns arrived as one
/// consecutive run. BI records are kept the same way: per data source its table-level upstreams, custom SQL
/// queries and a count of its fields, never the fields themselves.
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

    /// What is known about one BI data source beyond its own record.
    struct DataSource {
        var hasRecord = false
        /// Its workbook (embedded) or project (published): the container it is filed in.
        var container: QualifiedName?
        var containerIsWorkbook = false
        var fieldCount = 0
        var upstreamTables: [TableReference] = []
        var upstreamDataSources: [QualifiedName] = []
        /// Its custom SQL queries, in record order.
        var customSQL: [QualifiedName] = []
    }

    private(set) var datasets: [QualifiedName: Dataset] = [:]
    private(set) var dataSources: [QualifiedName: DataSource] = [:]
    /// Data sources in the order their first field arrived.
    private(set) var dataSourcesByFirstField: [QualifiedName] = []
    /// True while every data source's fields arrived as one consecutive run.
    private(set) var fieldsGroupedByDataSource = true
    private(set) var totalFields = 0
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
    private var lastFieldDataSource: QualifiedName?

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
        case .enumType, .domainType, .function:
            droppedRecords[record.kind, default: 0] += 1
        case .bi(let record):
            collect(record)
        }
    }

    private mutating func collect(_ record: BIRecord) {
        switch record {
        case .dataSource(let source):
            var entry = dataSources[source.qualifiedName, default: DataSource()]
            entry.hasRecord = true
            entry.container = source.workbook ?? source.project
            entry.containerIsWorkbook = source.workbook != nil
            entry.upstreamTables = source.upstreamTables
            entry.upstreamDataSources = source.upstreamDataSources
            dataSources[source.qualifiedName] = entry
        case .field(let field):
            totalFields += 1
            if field.dataSource != lastFieldDataSource {
                lastFieldDataSource = field.dataSource
                if (dataSources[field.dataSource]?.fieldCount ?? 0) > 0 {
                    fieldsGroupedByDataSource = false
                } else {
                    dataSourcesByFirstField.append(field.dataSource)
                }
            }
            dataSources[field.dataSource, default: DataSource()].fieldCount += 1
        case .customSQL(let query):
            dataSources[query.dataSource, default: DataSource()].customSQL.append(query.qualifiedName)
        case .site, .project, .workbook, .sheet, .dashboard:
            // Written from their own records alone.
            return
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

    /// Splits the data sources that have fields into consecutive groups of at most `maxFields` fields (a larger
    /// one forms a group alone), each to be read in one pass when fields are not grouped by data source.
    func fieldWindows(maxFields: Int) -> [[QualifiedName]] {
        Self.windows(of: dataSourcesByFirstField, maxCount: maxFields) { dataSources[$0]?.fieldCount ?? 0 }
    }

    private static func windows(
        of owners: [QualifiedName], maxCount: Int, count: (QualifiedName) -> Int
    ) -> [[QualifiedName]] {
        var windows: [[QualifiedName]] = []
        var current: [QualifiedName] = []
        var currentCount = 0
        for owner in owners {
            let items = count(owner)
            if !current.isEmpty && currentCount + items > maxCount {
                windows.append(current)
                current = []
                currentCount = 0
            }
            current.append(owner)
            currentCount += items
        }
        if !current.isEmpty { windows.append(current) }
        return windows
    }

    /// Splits the tables that have columns into consecutive groups of at most `maxColumns` columns (a larger
    /// table forms a group alone), each to be read in one pass when columns are not grouped by table.
    func columnWindows(maxColumns: Int) -> [[QualifiedName]] {
        Self.windows(of: tablesByFirstColumn, maxCount: maxColumns) { datasets[$0]?.columnCount ?? 0 }
    }
}
