/// Turns Outpost records into DataHub aspects, following what DataHub's own postgres source writes for the same
/// objects wherever DataHub has a convention, so aspects from either side look alike after a merge.
struct DataHubAspectBuilder: Sendable {
    let naming: DataHubNaming

    // MARK: Containers

    /// The aspects of a database container.
    func databaseContainer(
        name: String, comment: String? = nil, extra: DataHubProperties = DataHubProperties()
    ) -> (entity: DataHubNaming.Entity, aspects: [any DataHubAspectValue]) {
        let entity = naming.container(database: name)
        var properties = naming.containerKeyProperties(database: name)
        properties.merge(extra)
        return (entity, containerAspects(name: name, comment: comment, properties: properties, subType: "Database"))
    }

    /// The aspects of a schema container, the first of which links it to its database.
    func schemaContainer(
        name: String, database: String, comment: String? = nil, extra: DataHubProperties = DataHubProperties()
    ) -> (entity: DataHubNaming.Entity, aspects: [any DataHubAspectValue]) {
        let entity = naming.container(database: database, schema: name)
        var properties = naming.containerKeyProperties(database: database, schema: name)
        properties.merge(extra)
        let parent = DataHubAspect.Container(container: naming.container(database: database).urn)
        return (
            entity, [parent] + containerAspects(name: name, comment: comment, properties: properties, subType: "Schema")
        )
    }

    private func containerAspects(
        name: String, comment: String?, properties: DataHubProperties, subType: String
    ) -> [any DataHubAspectValue] {
        [
            DataHubAspect.ContainerProperties(
                customProperties: properties, name: name, description: comment, env: naming.environment),
            DataHubAspect.Status(),
            DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: naming.platformInstanceUrn),
            DataHubAspect.SubTypes(typeNames: [subType]),
        ]
    }

    /// Outpost-only properties of a database container.
    static func properties(of database: Database) -> DataHubProperties {
        var properties = DataHubProperties()
        properties["qualifiedName"] = database.qualifiedName.description
        properties["owner"] = database.owner
        properties["encoding"] = database.encoding
        properties["collation"] = database.collation
        properties["sizeBytes"] = database.sizeBytes.map(String.init)
        return properties
    }

    /// Outpost-only properties of a schema container.
    static func properties(of schema: Schema) -> DataHubProperties {
        var properties = DataHubProperties()
        properties["qualifiedName"] = schema.qualifiedName.description
        properties["owner"] = schema.owner
        return properties
    }

    // MARK: Datasets

    /// The aspects of a table, view or materialized view that its own record and the plan's extras determine:
    /// everything but `schemaMetadata`.
    func relationAspects(
        _ relation: Relation, plan: DataHubExportPlan.Dataset?
    ) throws -> [any DataHubAspectValue] {
        let databaseName = relation.database.parts.last ?? ""
        let schemaName = relation.schema.parts.last ?? ""
        let isView = relation.kind != .table
        var aspects: [any DataHubAspectValue] = [
            DataHubAspect.Status(),
            DataHubAspect.Container(container: naming.container(database: databaseName, schema: schemaName).urn),
            DataHubAspect.DatasetProperties(
                customProperties: try properties(of: relation, plan: plan), name: relation.name,
                description: relation.comment),
            // DataHub's postgres source files materialized views as views too; `viewProperties` tells them apart.
            DataHubAspect.SubTypes(typeNames: [isView ? "View" : "Table"]),
        ]
        if let instance = naming.platformInstanceUrn {
            aspects.append(DataHubAspect.DataPlatformInstance(platform: naming.platformUrn, instance: instance))
        }
        if isView {
            aspects.append(
                DataHubAspect.ViewProperties(
                    materialized: relation.kind == .materializedView, viewLogic: relation.definition ?? ""))
        }
        if let plan, let lineage = try upstreamLineage(plan.upstreams) {
            aspects.append(lineage)
        }
        return aspects
    }

    /// `upstreamLineage` for a dataset that reads `upstreams`, or nil when it reads none.
    ///
    /// Every edge Outpost records is a view reading a relation, hence type `VIEW`. Column-level lineage is not
    /// written: Outpost knows which upstream columns a view reads but not which of its own columns each feeds,
    /// and DataHub's fine-grained lineage needs that pairing.
    func upstreamLineage(_ upstreams: [QualifiedName]) throws -> DataHubAspect.UpstreamLineage? {
        guard !upstreams.isEmpty else { return nil }
        return DataHubAspect.UpstreamLineage(
            upstreams: try upstreams.map { .init(dataset: try naming.dataset($0).urn, type: "VIEW") })
    }

    private func properties(of relation: Relation, plan: DataHubExportPlan.Dataset?) throws -> DataHubProperties {
        var properties = DataHubProperties()
        properties["qualifiedName"] = relation.qualifiedName.description
        properties["tableType"] = relation.tableType?.rawValue
        properties["owner"] = relation.owner
        properties["persistence"] = relation.persistence
        properties["rowEstimate"] = relation.rowEstimate.map(String.init)
        properties["sizeBytes"] = relation.sizeBytes.map(String.init)
        properties["populated"] = relation.populated.map(String.init)
        properties["partitionOf"] = try relation.partitionOf.map(DataHubNaming.datasetName)
        properties["partitionBound"] = relation.partitionBound
        properties["partitionKey"] = relation.partitionKey
        if let inherits = relation.inherits, !inherits.isEmpty {
            properties["inherits"] = try inherits.map(DataHubNaming.datasetName).joined(separator: ", ")
        }
        if relation.kind != .table {
            // The two keys DataHub's SQL sources put on every view.
            properties["is_view"] = "True"
            properties["view_definition"] = relation.definition ?? ""
        }
        if let plan {
            properties["uniqueConstraints"] = Self.lines(plan.uniqueConstraints)
            properties["checkConstraints"] = Self.lines(plan.checkConstraints)
            properties["indexes"] = Self.lines(plan.indexes)
        }
        return properties
    }

    private static func lines(_ lines: [String]) -> String? {
        lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    /// `schemaMetadata` of one dataset: its fields in ordinal order, its primary key and its foreign keys.
    func schemaMetadata(
        table: QualifiedName, columns: [Column], plan: DataHubExportPlan.Dataset?
    ) throws -> DataHubAspect.SchemaMetadata {
        let dataset = try naming.dataset(table)
        let primaryKey = plan?.primaryKey ?? []
        let keyColumns = Set(primaryKey)
        let fields = columns.sorted { $0.ordinal < $1.ordinal }.map { column in
            DataHubAspect.SchemaMetadata.Field(
                fieldPath: naming.fieldPath(column.name), nullable: column.nullable, description: column.comment,
                type: .init(type: Self.fieldType(of: column)), nativeDataType: column.nativeType,
                isPartOfKey: keyColumns.contains(column.name) ? true : nil)
        }
        let foreignKeys = try (plan?.foreignKeys ?? []).map { key in
            let foreign = try naming.dataset(key.referencedTable)
            return DataHubAspect.SchemaMetadata.ForeignKey(
                name: key.name,
                foreignFields: key.referencedColumns.map {
                    DataHubNaming.schemaFieldUrn(dataset: foreign, field: naming.fieldPath($0))
                },
                sourceFields: key.columns.map {
                    DataHubNaming.schemaFieldUrn(dataset: dataset, field: naming.fieldPath($0))
                },
                foreignDataset: foreign.urn)
        }
        return DataHubAspect.SchemaMetadata(
            schemaName: try naming.schemaName(of: table), platform: naming.platformUrn, fields: fields,
            primaryKeys: primaryKey.isEmpty ? nil : primaryKey.map(naming.fieldPath),
            foreignKeys: foreignKeys.isEmpty ? nil : foreignKeys)
    }

    /// DataHub's field type for a column, as DataHub's postgres source maps the same SQL types: JSON and
    /// composites are records, ranges, network addresses and UUIDs strings, bit strings and geometry bytes.
    static func fieldType(of column: Column) -> DataHubAspect.SchemaMetadata.FieldType {
        switch column.typeFamily {
        case .boolean: .boolean
        case .integer, .decimal, .float: .number
        case .string, .uuid, .network, .range: .string
        case .binary, .bitString, .geometric: .bytes
        case .date: .date
        case .time, .timestamp, .interval: .time
        case .json, .composite: .record
        case .array: .array(elementType: column.elementType)
        case .enumeration: .enumeration
        case .other: otherFieldType(nativeType: column.baseType ?? column.nativeType)
        }
    }

    /// Extension and special-purpose types DataHub's postgres source knows by name.
    private static func otherFieldType(nativeType: String) -> DataHubAspect.SchemaMetadata.FieldType {
        let baseName = nativeType.prefix { $0 != "(" }.lowercased()
        switch baseName {
        case "hstore": return .map
        case "xml", "ltree": return .string
        case "tsvector", "tsquery": return .bytes
        case "vector", "halfvec", "sparsevec": return .array(elementType: nil)
        default: return .null
        }
    }
}
