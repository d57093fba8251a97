internal import Metadata
internal import SourceURLs

/// Records from catalog rows, shared by the `information_schema` and `account_usage` readers: their statements select
/// the same columns in the same order after the columns that place the object.
enum SnowflakeRecords {
    /// The relation kind of a `TABLE_TYPE`.
    static func relationKind(_ tableType: String) -> Relation.Kind {
        switch tableType.uppercased() {
        case "VIEW": .view
        case "MATERIALIZED VIEW": .materializedView
        default: .table
        }
    }

    /// A relation from the cells after `TABLE_TYPE`: owner, IS_TRANSIENT, CLUSTERING_KEY, ROW_COUNT, BYTES, CREATED,
    /// LAST_ALTERED, COMMENT, IS_ICEBERG, IS_DYNAMIC, IS_HYBRID, view text. Returns the view text separately (it is
    /// read for lineage even when the record must not carry it).
    static func relation(
        _ cells: inout SnowflakeCells, tableType rawType: String, name: String, schema: QualifiedName,
        database: QualifiedName
    ) -> (Relation, String?) {
        let tableType = rawType.uppercased()
        let kind = relationKind(tableType)
        var record = Relation(
            kind: kind, qualifiedName: schema.appending(name), name: name, database: database, schema: schema)
        record.owner = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
        let transient = SnowflakeValues.bool(cells.optional()) ?? false
        record.clusteringKey = cells.optional().flatMap { $0.isEmpty ? nil : $0 }
        let rows = SnowflakeValues.int64(cells.optional())
        let bytes = SnowflakeValues.int64(cells.optional())
        record.createdAt = SnowflakeValues.timestamp(cells.optional())
        record.lastAlteredAt = SnowflakeValues.timestamp(cells.optional())
        record.comment = cells.optional()
        let iceberg = SnowflakeValues.bool(cells.optional()) ?? false
        let dynamic = SnowflakeValues.bool(cells.optional()) ?? false
        let hybrid = SnowflakeValues.bool(cells.optional()) ?? false
        let definition = cells.optional()
        switch kind {
        case .table:
            record.rowEstimate = rows
            record.sizeBytes = bytes
            // tableType keeps format 1.0's closed vocabulary (an external table's data lives elsewhere, like a foreign
            // table's); Snowflake's own kind goes in the open sourceTableType.
            record.tableType = tableType == "EXTERNAL TABLE" ? .foreign : .base
            record.sourceTableType =
                if tableType == "EXTERNAL TABLE" {
                    "external"
                } else if tableType == "EVENT TABLE" {
                    "event"
                } else if dynamic {
                    "dynamic"
                } else if iceberg {
                    "iceberg"
                } else if hybrid {
                    "hybrid"
                } else {
                    nil
                }
            record.persistence = tableType.contains("TEMPORARY") ? "temporary" : "permanent"
            if transient { record.transient = true }
        case .view:
            record.definition = definition
        case .materializedView:
            record.definition = definition
            record.sizeBytes = bytes
        }
        return (record, definition)
    }

    /// A column from the cells after the table's: COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH,
    /// NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT, IS_IDENTITY, COLLATION_NAME,
    /// COMMENT.
    static func column(
        _ cells: inout SnowflakeCells, table: QualifiedName, tableName: String, schema: QualifiedName,
        database: QualifiedName
    ) throws -> Column {
        let name = try cells.string()
        guard let ordinal = SnowflakeValues.int64(cells.optional()) else {
            throw ConnectorError(.queryFailed, "a column of \(tableName) has no ORDINAL_POSITION")
        }
        let dataType = try cells.string()
        let length = SnowflakeValues.int64(cells.optional())
        let precision = SnowflakeValues.int64(cells.optional())
        let scale = SnowflakeValues.int64(cells.optional())
        let datetimePrecision = SnowflakeValues.int64(cells.optional())
        var record = Column(
            qualifiedName: table.appending(name), name: name, database: database, schema: schema, table: table,
            ordinal: Int(ordinal),
            nativeType: SnowflakeValues.nativeType(
                dataType: dataType, length: length, precision: precision, scale: scale,
                datetimePrecision: datetimePrecision),
            typeFamily: SnowflakeValues.typeFamily(dataType: dataType, scale: scale), nullable: true)
        record.nullable = SnowflakeValues.bool(cells.optional()) ?? true
        record.defaultExpression = cells.optional()
        if SnowflakeValues.bool(cells.optional()) == true {
            // Snowflake's IDENTITY/AUTOINCREMENT accepts explicit values: BY DEFAULT in SQL-standard terms.
            record.identity = "byDefault"
            record.defaultExpression = nil
        }
        record.collation = cells.optional()
        record.comment = cells.optional()
        return record
    }

    /// A function or procedure from the cells after its schema: name, ARGUMENT_SIGNATURE, DATA_TYPE, language, owner,
    /// COMMENT. Overloads differ in their argument signature, which is part of the qualified name.
    static func routine(
        _ cells: inout SnowflakeCells, procedure: Bool, schema: QualifiedName, database: QualifiedName
    ) throws -> Function {
        let name = try cells.string()
        let argumentSignature = cells.optional() ?? "()"
        let signature = name + argumentSignature
        let arguments =
            argumentSignature.hasPrefix("(") && argumentSignature.hasSuffix(")")
            ? String(argumentSignature.dropFirst().dropLast()) : argumentSignature
        var record = Function(
            qualifiedName: schema.appending(marker: .function, signature), name: name, database: database,
            schema: schema, routineType: procedure ? "procedure" : "function", signature: signature,
            arguments: arguments, language: "")
        record.returnType = cells.optional()
        record.language = cells.optional()?.lowercased() ?? ""
        record.owner = cells.optional()
        record.comment = cells.optional()
        return record
    }
}
