internal import Metadata
internal import PostgresNIO

/// Per-relation state carried across rows of the ordered columns query.
struct ColumnState {
    var relationID: Int64 = -1
    var admitted = false
    var ordinal = 0
    var schema = QualifiedName([])
    var table = QualifiedName([])
}

extension PostgresDatabaseReader {
    func emitEnumType(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schema = schemaName(try cells.next(String.self))
        let name = try cells.next(String.self)
        var record = EnumType(
            qualifiedName: schema.appending(marker: .type, name), name: name, database: databaseName, schema: schema,
            values: try cells.next([String].self))
        record.owner = try cells.next(String?.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.enumType(record))
    }

    func emitDomainType(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schema = schemaName(try cells.next(String.self))
        let name = try cells.next(String.self)
        let baseType = try cells.next(String.self)
        let category = try cells.next(String.self)
        let baseName = try cells.next(String.self)
        var record = DomainType(
            qualifiedName: schema.appending(marker: .type, name), name: name, database: databaseName, schema: schema,
            baseType: baseType, typeFamily: .postgres(category: category, baseName: baseName),
            nullable: try cells.next(Bool.self), checks: [])
        record.defaultExpression = try cells.next(String?.self)
        record.checks = try cells.next([String].self)
        record.collation = try cells.next(String?.self)
        record.owner = try cells.next(String?.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.domainType(record))
    }

    /// Emits one relation if the filters admit it; returns its OID (the keyset position).
    func emitRelation(_ row: PostgresRow) throws -> Int64 {
        var cells = Cells(row)
        let oid = try cells.next(Int64.self)
        let schemaText = try cells.next(String.self)
        let name = try cells.next(String.self)
        guard scope.filters.admitsTable(name) else { return oid }
        let schema = schemaName(schemaText)
        let relkind = try cells.next(String.self)
        let kind: Relation.Kind =
            switch relkind {
            case "v": .view
            case "m": .materializedView
            default: .table
            }
        var record = Relation(
            kind: kind, qualifiedName: schema.appending(name), name: name, database: databaseName, schema: schema)
        switch relkind {
        case "r": record.tableType = .base
        case "p": record.tableType = .partitioned
        case "f": record.tableType = .foreign
        default: break
        }
        record.persistence =
            switch try cells.next(String.self) {
            case "u": "unlogged"
            case "t": "temporary"
            default: "permanent"
            }
        record.owner = try cells.next(String?.self)
        if let tuples = try cells.next(Double?.self), kind != .view, relkind != "p" {
            record.rowEstimate = Int64(tuples)
        }
        record.sizeBytes = try cells.next(Int64?.self)
        record.definition = try cells.next(String?.self)
        let populated = try cells.next(Bool.self)
        if kind == .materializedView { record.populated = populated }
        let parentSchema = try cells.next(String?.self)
        let parentName = try cells.next(String?.self)
        if let parentSchema, let parentName {
            record.partitionOf = schemaName(parentSchema).appending(parentName)
        }
        record.partitionBound = try cells.next(String?.self)
        record.partitionKey = try cells.next(String?.self)
        let inheritSchemas = try cells.next([String].self)
        let inheritNames = try cells.next([String].self)
        if !inheritNames.isEmpty {
            record.inherits = zip(inheritSchemas, inheritNames).map { schemaName($0).appending($1) }
        }
        record.comment = try cells.next(String?.self)
        try sink.write(.relation(record))
        return oid
    }

    func emitColumn(_ row: PostgresRow, state: inout ColumnState) throws {
        var cells = Cells(row)
        let relationID = try cells.next(Int64.self)
        if relationID != state.relationID {
            let schemaText = try cells.next(String.self)
            let tableText = try cells.next(String.self)
            state.relationID = relationID
            state.admitted = scope.filters.admitsTable(tableText)
            state.ordinal = 0
            state.schema = schemaName(schemaText)
            state.table = state.schema.appending(tableText)
        } else {
            _ = try cells.next(String.self)
            _ = try cells.next(String.self)
        }
        state.ordinal += 1
        guard state.admitted else { return }
        let name = try cells.next(String.self)
        let nativeType = try cells.next(String.self)
        let typeSchema = try cells.next(String.self)
        let category = try cells.next(String.self)
        let baseName = try cells.next(String.self)
        var record = Column(
            qualifiedName: state.table.appending(name), name: name, database: databaseName, schema: state.schema,
            table: state.table, ordinal: state.ordinal, nativeType: nativeType,
            typeFamily: .postgres(category: category, baseName: baseName), nullable: true)
        record.typeSchema = typeSchema
        record.baseType = try cells.next(String?.self)
        record.elementType = try cells.next(String?.self)
        record.nullable = try cells.next(Bool.self)
        let expression = try cells.next(String?.self)
        record.identity =
            switch try cells.next(String.self) {
            case "a": "always"
            case "d": "byDefault"
            default: nil
            }
        if try cells.next(String.self) == "s" {
            record.generatedExpression = expression
        } else {
            record.defaultExpression = expression
        }
        record.collation = try cells.next(String?.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.column(record))
    }

    func emitConstraint(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schemaText = try cells.next(String.self)
        let tableText = try cells.next(String.self)
        guard scope.filters.admitsTable(tableText) else { return }
        let schema = schemaName(schemaText)
        let table = schema.appending(tableText)
        let name = try cells.next(String.self)
        let kind: Constraint.Kind =
            switch try cells.next(String.self) {
            case "p": .primaryKey
            case "f": .foreignKey
            case "u": .uniqueConstraint
            default: .checkConstraint
            }
        var record = Constraint(
            kind: kind, qualifiedName: table.appending(marker: .constraint, name), name: name,
            database: databaseName, schema: schema, table: table, columns: try cells.next([String].self))
        let referencedSchema = try cells.next(String?.self)
        let referencedTable = try cells.next(String?.self)
        let referencedColumns = try cells.next([String].self)
        let onDelete = try cells.next(String.self)
        let onUpdate = try cells.next(String.self)
        let match = try cells.next(String.self)
        if kind == .foreignKey, let referencedSchema, let referencedTable {
            record.referencedTable = schemaName(referencedSchema).appending(referencedTable)
            record.referencedColumns = referencedColumns
            record.onDelete = Self.referentialAction(onDelete)
            record.onUpdate = Self.referentialAction(onUpdate)
            record.matchType =
                switch match {
                case "f": "full"
                case "p": "partial"
                default: "simple"
                }
        }
        record.expression = try cells.next(String?.self)
        record.deferrable = try cells.next(Bool.self)
        record.initiallyDeferred = try cells.next(Bool.self)
        record.validated = try cells.next(Bool.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.constraint(record))
    }

    static func referentialAction(_ code: String) -> String {
        switch code {
        case "r": "restrict"
        case "c": "cascade"
        case "n": "setNull"
        case "d": "setDefault"
        default: "noAction"
        }
    }

    func emitIndex(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schemaText = try cells.next(String.self)
        let tableText = try cells.next(String.self)
        guard scope.filters.admitsTable(tableText) else { return }
        let schema = schemaName(schemaText)
        let table = schema.appending(tableText)
        let name = try cells.next(String.self)
        let unique = try cells.next(Bool.self)
        let primary = try cells.next(Bool.self)
        let method = try cells.next(String.self)
        let predicate = try cells.next(String?.self)
        let keyCount = Int(try cells.next(Int64.self))
        let columnNames = try cells.next([String].self)
        let expressions = try cells.next([String].self)
        let descending = try cells.next([Bool].self)
        var keys: [Index.Key] = []
        var included: [String] = []
        for position in columnNames.indices {
            let column = columnNames[position].isEmpty ? nil : columnNames[position]
            if position < keyCount {
                let expression =
                    position < expressions.count && !expressions[position].isEmpty
                    ? expressions[position] : nil
                let isDescending = position < descending.count ? descending[position] : false
                keys.append(Index.Key(column: column, expression: expression, descending: isDescending ? true : nil))
            } else if let column {
                included.append(column)
            }
        }
        var record = Index(
            qualifiedName: table.appending(marker: .index, name), name: name, database: databaseName, schema: schema,
            table: table, keys: keys, unique: unique)
        record.includedColumns = included.isEmpty ? nil : included
        record.primary = primary
        record.predicate = predicate
        record.method = method
        record.sizeBytes = try cells.next(Int64?.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.index(record))
    }

    func emitLineage(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schemaText = try cells.next(String.self)
        let viewText = try cells.next(String.self)
        guard scope.filters.admitsTable(viewText) else { return }
        let schema = schemaName(schemaText)
        let downstreamKind: RecordKind = try cells.next(String.self) == "m" ? .materializedView : .view
        let upstreamSchema = schemaName(try cells.next(String.self))
        let upstreamName = try cells.next(String.self)
        let upstreamKind: RecordKind =
            switch try cells.next(String.self) {
            case "v": .view
            case "m": .materializedView
            default: .table
            }
        let record = LineageEdge(
            downstream: schema.appending(viewText), downstreamKind: downstreamKind,
            upstream: upstreamSchema.appending(upstreamName), upstreamSchema: upstreamSchema,
            upstreamKind: upstreamKind,
            name: upstreamName,
            database: databaseName, schema: schema, upstreamColumns: try cells.next([String].self))
        try sink.write(.lineageEdge(record))
    }

    func emitFunction(_ row: PostgresRow) throws {
        var cells = Cells(row)
        let schema = schemaName(try cells.next(String.self))
        let name = try cells.next(String.self)
        let routineType =
            switch try cells.next(String.self) {
            case "p": "procedure"
            case "a": "aggregate"
            case "w": "window"
            default: "function"
            }
        let identity = try cells.next(String?.self) ?? ""
        let signature = "\(name)(\(identity))"
        var record = Function(
            qualifiedName: schema.appending(marker: .function, signature), name: name, database: databaseName,
            schema: schema, routineType: routineType, signature: signature,
            arguments: try cells.next(String?.self) ?? "", language: "")
        record.returnType = try cells.next(String?.self)
        record.language = try cells.next(String.self)
        record.volatility =
            switch try cells.next(String.self) {
            case "i": "immutable"
            case "s": "stable"
            default: "volatile"
            }
        record.securityDefiner = try cells.next(Bool.self)
        record.owner = try cells.next(String?.self)
        record.comment = try cells.next(String?.self)
        try sink.write(.function(record))
    }
}
