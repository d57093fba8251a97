/// Exports an Outpost extraction to DataHub's metadata file format: a JSON array of metadata change proposals
/// that DataHub's `file` source ingests and `datahub check metadata-file` validates.
///
/// Entities are named exactly as DataHub's own postgres source names them (see `DataHubNaming`), so an export
/// merges with DataHub-native ingestion of the same database instead of duplicating it:
///
/// - database, schema → container: `containerProperties`, `status`, `dataPlatformInstance`, `subTypes`
///   (`Database`/`Schema`); a schema also gets `container` pointing at its database.
/// - table, view, materialized view → dataset `<db>.<schema>.<name>`: `status`, `container` (its schema),
///   `datasetProperties`, `subTypes` (`Table`/`View`), `viewProperties` for views, `dataPlatformInstance` when a
///   platform instance is set.
/// - column, primary key, foreign key → the dataset's `schemaMetadata`: fields, `isPartOfKey`, `primaryKeys`,
///   `foreignKeys` (as field URNs).
/// - lineage edge → the downstream's `upstreamLineage`, type `VIEW`.
/// - unique and check constraints, indexes → lines in the dataset's `customProperties` (`uniqueConstraints`,
///   `checkConstraints`, `indexes`).
/// - enum and domain types, functions → dropped: the file format has no entity for them; counted in
///   `Summary.droppedRecords`.
///
/// Also dropped, for want of a DataHub field: column defaults, identity and generation expressions, collations
/// and type schemas; primary key names, foreign key actions and match types, deferrability and validation state,
/// comments on constraints and indexes, index sizes; and column-level lineage (Outpost does not pair upstream
/// columns with downstream ones). Owners stay plain `owner` properties, as DataHub owners are users it must
/// already know.
///
/// Memory stays bounded however large the catalog. DataHub replaces a whole aspect on every write, so a
/// dataset's `schemaMetadata` must carry all its columns, its primary key and its foreign keys at once, yet keys
/// arrive after every column of the database. The export therefore reads the extraction more than once:
/// 1. A planning pass keeps, per relation, only its keys, index and constraint lines, lineage upstreams and a
///    column count (`DataHubExportPlan`), and notes whether each relation's columns came as one consecutive run.
/// 2. The writing pass writes container and dataset aspects as their records arrive, completing them from the
///    plan, and, when columns are grouped by relation (as connectors write them), buffers one relation's columns
///    at a time and writes its `schemaMetadata` when the next relation's columns begin.
/// 3. Only if columns were not grouped: further passes, each collecting the columns of a window of relations
///    holding at most `maxBufferedColumns` columns, then writing their `schemaMetadata`.
///
/// Containers referenced by relations but missing from the extraction (a filtered or partial extraction) are
/// still written, with their name only, so every dataset has its parents.
///
/// BI records (format 1.2, a Tableau extraction; platform `tableau`) follow DataHub's model of Tableau
/// (`DataHubAspectBuilder+BI.swift`, naming in `DataHubNaming+BI.swift`):
/// - site, project (nested), workbook → containers (`Site`, `Project`, `Workbook`), each in its parent's.
/// - sheet → chart: `chartInfo` whose `inputEdges` are the datasets of the data sources its fields belong to.
/// - dashboard → dashboard: `dashboardInfo` with the charts of its sheets.
/// - data source → dataset (`Published Data Source`, `Embedded Data Source`) in its workbook's or project's
///   container; its fields → its `schemaMetadata` (a formula joins the description, as DataHub's Tableau source
///   writes it); `upstreamLineage` (type `TRANSFORMED`) to the warehouse datasets it and its fields read, named
///   as DataHub's source of that warehouse names them (`postgres`, `snowflake` lower-cased, …), to the published
///   data sources it reads through and to its custom SQL, with fine-grained lineage for every field that names
///   upstream columns or fields.
/// - custom SQL → dataset (`View`, `Custom SQL`) with its query as `viewProperties` and lineage to the tables
///   the BI tool reports it reads.
/// Fields are handled like columns: a data source's fields are buffered one data source at a time when they
/// arrive grouped (as the connector writes them), else gathered in bounded extra passes.
public struct DataHubExporter: Sendable {
    /// A DataHub environment: a `FabricType` symbol, the last part of every dataset URN.
    public enum Environment: String, Sendable, CaseIterable {
        case dev = "DEV"
        case test = "TEST"
        case qa = "QA"
        case uat = "UAT"
        case ei = "EI"
        case pre = "PRE"
        case stg = "STG"
        case nonProd = "NON_PROD"
        case prod = "PROD"
        case corp = "CORP"
        case rvw = "RVW"
        case prd = "PRD"
        case tst = "TST"
        case sit = "SIT"
        case sbx = "SBX"
        case sandbox = "SANDBOX"
        case cert = "CERT"
    }

    /// What one export wrote.
    public struct Summary: Sendable, Equatable {
        /// Dataset entities written (tables, views, materialized views; BI data sources and custom SQL).
        public var datasets = 0
        /// Container entities written (databases and schemas; BI sites, projects and workbooks).
        public var containers = 0
        /// Chart entities written (BI sheets).
        public var charts = 0
        /// Dashboard entities written.
        public var dashboards = 0
        /// Proposals written, one aspect each.
        public var aspects = 0
        /// Proposals written, per aspect name.
        public var aspectsByName: [String: Int] = [:]
        /// Fields written across every `schemaMetadata`.
        public var fields = 0
        /// Records with no DataHub equivalent, per kind.
        public var droppedRecords: [RecordKind: Int] = [:]
        /// How many times the extraction was read.
        public var passes = 0
    }

    /// The environment of every entity.
    public var environment: Environment
    /// A DataHub platform instance, for several servers of one platform; prefixes dataset names.
    public var platformInstance: String?
    /// The DataHub platform; nil derives it from the extraction's source kind (`postgresql` → `postgres`).
    public var platform: String?
    /// At most this many columns (or BI fields) are held at once when they are not grouped by relation (data
    /// source).
    public var maxBufferedColumns: Int

    /// - Parameters:
    ///   - environment: the environment of every entity; DataHub's own sources default to `PROD` too.
    ///   - platformInstance: set it to the instance name DataHub's own ingestion of the same server uses, or the
    ///     two will not merge; empty means none.
    ///   - platform: overrides the platform derived from the extraction's source kind.
    ///   - maxBufferedColumns: the memory bound for extractions whose columns are not grouped by relation.
    public init(
        environment: Environment = .prod, platformInstance: String? = nil, platform: String? = nil,
        maxBufferedColumns: Int = 50_000
    ) {
        self.environment = environment
        self.platformInstance = platformInstance.flatMap { $0.isEmpty ? nil : $0 }
        self.platform = platform
        self.maxBufferedColumns = max(1, maxBufferedColumns)
    }

    /// DataHub's platform id for an Outpost source kind.
    public static func platform(forSourceKind kind: String) -> String {
        switch kind.lowercased() {
        case "postgresql", "postgres": "postgres"
        default: kind.lowercased()
        }
    }

    /// Writes the extraction in `folder` to `path` as a DataHub metadata file, replacing any file there.
    ///
    /// The file appears only when complete; on failure nothing is left behind.
    /// - Throws: `MetadataError` when the extraction cannot be read or verified, or the file cannot be written.
    @discardableResult
    public func export(folder: ExtractionFolder, to path: String) throws -> Summary {
        let manifest = try folder.readManifest()
        let naming = DataHubNaming(
            platform: platform ?? Self.platform(forSourceKind: manifest.source.kind), instance: platformInstance,
            environment: environment.rawValue)
        let builder = DataHubAspectBuilder(naming: naming)
        var summary = Summary()

        var plan = DataHubExportPlan()
        try folder.forEachRecord(in: manifest) { plan.collect($0) }
        summary.passes += 1

        let writer = try DataHubProposalWriter(path: path)
        do {
            var pass = WritingPass(builder: builder, plan: plan, writer: writer)
            try folder.forEachRecord(in: manifest) { try pass.write($0) }
            try pass.finish()
            summary.passes += 1
            summary.containers = pass.containers
            summary.fields = pass.fields
            summary.charts = pass.charts
            summary.dashboards = pass.dashboards
            summary.datasets = plan.datasets.count + pass.biDatasets

            if !plan.columnsGroupedByTable {
                for window in plan.columnWindows(maxColumns: maxBufferedColumns) {
                    summary.fields += try writeSchemas(
                        of: window, folder: folder, manifest: manifest, plan: plan, builder: builder, writer: writer)
                    summary.passes += 1
                }
            }
            if !plan.fieldsGroupedByDataSource {
                for window in plan.fieldWindows(maxFields: maxBufferedColumns) {
                    summary.fields += try writeDataSourceSchemas(
                        of: window, folder: folder, manifest: manifest, plan: plan, builder: builder, writer: writer)
                    summary.passes += 1
                }
            }
            try writer.finish()
        } catch {
            writer.discard()
            throw error
        }
        summary.aspects = writer.count
        summary.aspectsByName = writer.countsByAspect
        summary.droppedRecords = plan.droppedRecords
        return summary
    }

    /// One extra pass: collects the columns of `tables` and writes their `schemaMetadata`; returns the fields.
    private func writeSchemas(
        of tables: [QualifiedName], folder: ExtractionFolder, manifest: Manifest, plan: DataHubExportPlan,
        builder: DataHubAspectBuilder, writer: DataHubProposalWriter
    ) throws -> Int {
        var columns: [QualifiedName: [Column]] = Dictionary(uniqueKeysWithValues: tables.map { ($0, []) })
        try folder.forEachRecord(in: manifest) { record in
            guard case .column(let column) = record, columns[column.table] != nil else { return }
            columns[column.table]!.append(column)
        }
        var fields = 0
        for table in tables {
            let tableColumns = columns.removeValue(forKey: table) ?? []
            let aspect = try builder.schemaMetadata(table: table, columns: tableColumns, plan: plan.datasets[table])
            try writer.write(aspect, for: try builder.naming.dataset(table))
            fields += aspect.fields.count
        }
        return fields
    }
}

extension DataHubExporter {
    /// One extra pass: collects the fields of `dataSources` and writes their `schemaMetadata` and lineage; returns
    /// the fields.
    fileprivate func writeDataSourceSchemas(
        of dataSources: [QualifiedName], folder: ExtractionFolder, manifest: Manifest, plan: DataHubExportPlan,
        builder: DataHubAspectBuilder, writer: DataHubProposalWriter
    ) throws -> Int {
        var fields: [QualifiedName: [Field]] = Dictionary(uniqueKeysWithValues: dataSources.map { ($0, []) })
        try folder.forEachRecord(in: manifest) { record in
            guard case .bi(.field(let field)) = record, fields[field.dataSource] != nil else { return }
            fields[field.dataSource]!.append(field)
        }
        var count = 0
        for source in dataSources {
            let sourceFields = fields.removeValue(forKey: source) ?? []
            try WritingPass.writeDataSourceSchema(
                source, fields: sourceFields, plan: plan.dataSources[source], builder: builder, writer: writer)
            count += sourceFields.count
        }
        return count
    }
}

/// The writing pass: turns records into proposals as they stream by.
private struct WritingPass {
    let builder: DataHubAspectBuilder
    let plan: DataHubExportPlan
    let writer: DataHubProposalWriter
    private(set) var containers = 0
    private(set) var fields = 0
    private(set) var charts = 0
    private(set) var dashboards = 0
    /// BI data sources and custom SQL queries written.
    private(set) var biDatasets = 0
    /// The relation whose consecutive columns are being gathered, when columns are grouped by relation.
    private var pendingTable: QualifiedName?
    private var pendingColumns: [Column] = []
    /// The data source whose consecutive fields are being gathered, when fields are grouped by data source.
    private var pendingDataSource: QualifiedName?
    private var pendingFields: [Field] = []

    init(builder: DataHubAspectBuilder, plan: DataHubExportPlan, writer: DataHubProposalWriter) {
        self.builder = builder
        self.plan = plan
        self.writer = writer
    }

    mutating func write(_ record: MetadataRecord) throws {
        switch record {
        case .database(let database):
            let container = builder.databaseContainer(
                name: database.name, comment: database.comment, extra: DataHubAspectBuilder.properties(of: database))
            try write(container.aspects, for: container.entity)
            containers += 1
        case .schema(let schema):
            let container = builder.schemaContainer(
                name: schema.name, database: schema.database.parts.last ?? "", comment: schema.comment,
                extra: DataHubAspectBuilder.properties(of: schema))
            try write(container.aspects, for: container.entity)
            containers += 1
        case .relation(let relation):
            let entity = try builder.naming.dataset(relation.qualifiedName)
            let datasetPlan = plan.datasets[relation.qualifiedName]
            try write(try builder.relationAspects(relation, plan: datasetPlan), for: entity)
            if (datasetPlan?.columnCount ?? 0) == 0 {
                // DataHub gives every table and view a schema, even an empty one.
                let schema = try builder.schemaMetadata(table: relation.qualifiedName, columns: [], plan: datasetPlan)
                try writer.write(schema, for: entity)
            }
        case .column(let column):
            guard plan.columnsGroupedByTable else { return }
            if column.table != pendingTable {
                try flushColumns()
                pendingTable = column.table
            }
            pendingColumns.append(column)
        case .constraint, .index, .lineageEdge, .enumType, .domainType, .function:
            // Folded into dataset aspects from the plan, or dropped.
            return
        case .bi(let record):
            try write(record)
        }
    }

    private mutating func write(_ record: BIRecord) throws {
        switch record {
        case .site(let site):
            let container = builder.siteContainer(site)
            try write(container.aspects, for: container.entity)
            containers += 1
        case .project(let project):
            let container = builder.projectContainer(project)
            try write(container.aspects, for: container.entity)
            containers += 1
        case .workbook(let workbook):
            let container = builder.workbookContainer(workbook)
            try write(container.aspects, for: container.entity)
            containers += 1
        case .sheet(let sheet):
            let chart = try builder.sheetChart(sheet)
            try write(chart.aspects, for: chart.entity)
            charts += 1
        case .dashboard(let dashboard):
            let entity = builder.dashboard(dashboard)
            try write(entity.aspects, for: entity.entity)
            dashboards += 1
        case .dataSource(let source):
            let entity = builder.naming.biDataset(source.qualifiedName)
            try write(builder.dataSourceAspects(source), for: entity)
            biDatasets += 1
            let sourcePlan = plan.dataSources[source.qualifiedName]
            if (sourcePlan?.fieldCount ?? 0) == 0 {
                // Written with the fields otherwise.
                try Self.writeDataSourceSchema(
                    source.qualifiedName, fields: [], plan: sourcePlan, builder: builder, writer: writer)
            }
        case .field(let field):
            guard plan.fieldsGroupedByDataSource else { return }
            if field.dataSource != pendingDataSource {
                try flushFields()
                pendingDataSource = field.dataSource
            }
            pendingFields.append(field)
        case .customSQL(let query):
            let entity = builder.naming.biDataset(query.qualifiedName)
            try write(builder.customSQLAspects(query, plan: plan.dataSources[query.dataSource]), for: entity)
            biDatasets += 1
        }
    }

    /// Writes a data source's `schemaMetadata` and `upstreamLineage`, both of which need all its fields at once.
    static func writeDataSourceSchema(
        _ source: QualifiedName, fields: [Field], plan: DataHubExportPlan.DataSource?, builder: DataHubAspectBuilder,
        writer: DataHubProposalWriter
    ) throws {
        let entity = builder.naming.biDataset(source)
        try writer.write(builder.dataSourceSchema(source, fields: fields), for: entity)
        if let lineage = try builder.dataSourceLineage(source, plan: plan, fields: fields) {
            try writer.write(lineage, for: entity)
        }
    }

    private mutating func flushFields() throws {
        guard let source = pendingDataSource else { return }
        try Self.writeDataSourceSchema(
            source, fields: pendingFields, plan: plan.dataSources[source], builder: builder, writer: writer)
        fields += pendingFields.count
        pendingDataSource = nil
        pendingFields.removeAll(keepingCapacity: true)
    }

    /// Writes what only the end of the pass completes: the last relation's schema, lineage of datasets that
    /// have no relation record, and containers that datasets reference but the extraction lacks.
    mutating func finish() throws {
        try flushColumns()
        try flushFields()
        for (table, dataset) in plan.datasets.sorted(by: { $0.key < $1.key }) where !dataset.hasRelationRecord {
            if let lineage = try builder.upstreamLineage(dataset.upstreams) {
                try writer.write(lineage, for: try builder.naming.dataset(table))
            }
        }
        let databases = Set(plan.referencedSchemas.values).subtracting(plan.databaseRecords)
        for database in databases.sorted() {
            let container = builder.databaseContainer(name: database.parts.last ?? "")
            try write(container.aspects, for: container.entity)
            containers += 1
        }
        for (schema, database) in plan.referencedSchemas.sorted(by: { $0.key < $1.key })
        where !plan.schemaRecords.contains(schema) {
            let container = builder.schemaContainer(name: schema.parts.last ?? "", database: database.parts.last ?? "")
            try write(container.aspects, for: container.entity)
            containers += 1
        }
    }

    private mutating func flushColumns() throws {
        guard let table = pendingTable else { return }
        let aspect = try builder.schemaMetadata(table: table, columns: pendingColumns, plan: plan.datasets[table])
        try writer.write(aspect, for: try builder.naming.dataset(table))
        fields += aspect.fields.count
        pendingTable = nil
        pendingColumns.removeAll(keepingCapacity: true)
    }

    private func write(_ aspects: [any DataHubAspectValue], for entity: DataHubNaming.Entity) throws {
        for aspect in aspects { try writer.write(aspect, for: entity) }
    }
}
