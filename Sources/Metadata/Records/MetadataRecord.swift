/// The kinds of record in metadata format v1; the raw value is the JSON `kind`.
public enum RecordKind: String, Codable, Sendable, CaseIterable, Comparable {
    case database
    case schema
    case table
    case view
    case materializedView
    case column
    case primaryKey
    case foreignKey
    case uniqueConstraint
    case checkConstraint
    case index
    case lineageEdge
    case enumType
    case domainType
    case function
    // Format 1.2: business-intelligence kinds (see BIRecords.swift).
    case site
    case project
    case workbook
    case sheet
    case dashboard
    case dataSource
    case field
    case customSQL

    /// The kinds a BI connector (Tableau) writes; the others are a database's.
    public static let biKinds: Set<RecordKind> = [
        .site, .project, .workbook, .sheet, .dashboard, .dataSource, .field, .customSQL,
    ]

    public static func < (lhs: RecordKind, rhs: RecordKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One metadata record: the unit a connector emits and a JSON Lines chunk holds, one per line.
///
/// The JSON form is flat: `kind` first, then the fields of the kind's payload. Every payload carries its own
/// `qualifiedName`, its plain `name`, and the qualified names of its parents, so consumers never parse names.
public enum MetadataRecord: Sendable, Equatable {
    case database(Database)
    case schema(Schema)
    /// A table, view or materialized view; the relation's `kind` tells which.
    case relation(Relation)
    case column(Column)
    case constraint(Constraint)
    case index(Index)
    case lineageEdge(LineageEdge)
    case enumType(EnumType)
    case domainType(DomainType)
    case function(Function)
    /// A business-intelligence record (format 1.2): site, project, workbook, sheet, dashboard, data source, field
    /// or custom SQL.
    case bi(BIRecord)

    /// The record's kind as written in JSON.
    public var kind: RecordKind {
        switch self {
        case .database: .database
        case .schema: .schema
        case .relation(let relation): relation.kind.recordKind
        case .column: .column
        case .constraint(let constraint): constraint.kind.recordKind
        case .index: .index
        case .lineageEdge: .lineageEdge
        case .enumType: .enumType
        case .domainType: .domainType
        case .function: .function
        case .bi(let record): record.kind
        }
    }

    /// The record's qualified name.
    public var qualifiedName: QualifiedName {
        switch self {
        case .database(let record): record.qualifiedName
        case .schema(let record): record.qualifiedName
        case .relation(let record): record.qualifiedName
        case .column(let record): record.qualifiedName
        case .constraint(let record): record.qualifiedName
        case .index(let record): record.qualifiedName
        case .lineageEdge(let record): record.qualifiedName
        case .enumType(let record): record.qualifiedName
        case .domainType(let record): record.qualifiedName
        case .function(let record): record.qualifiedName
        case .bi(let record): record.qualifiedName
        }
    }

    /// The qualified name of the schema the record lives in, if any (databases have none); for a BI record, its
    /// project (sites have none): the scope completeness is reported in.
    public var schemaName: QualifiedName? {
        switch self {
        case .database: nil
        case .schema(let record): record.qualifiedName
        case .relation(let record): record.schema
        case .column(let record): record.schema
        case .constraint(let record): record.schema
        case .index(let record): record.schema
        case .lineageEdge(let record): record.schema
        case .enumType(let record): record.schema
        case .domainType(let record): record.schema
        case .function(let record): record.schema
        case .bi(let record): record.project
        }
    }

    /// The comment or description the source keeps for the object, if any: what catalog search reads besides names.
    public var comment: String? {
        switch self {
        case .database(let record): record.comment
        case .schema(let record): record.comment
        case .relation(let record): record.comment
        case .column(let record): record.comment
        case .constraint(let record): record.comment
        case .index(let record): record.comment
        case .lineageEdge: nil
        case .enumType(let record): record.comment
        case .domainType(let record): record.comment
        case .function(let record): record.comment
        case .bi(.project(let record)): record.comment
        case .bi(.workbook(let record)): record.comment
        case .bi(.dataSource(let record)): record.comment
        case .bi(.field(let record)): record.comment
        case .bi: nil
        }
    }
}

extension MetadataRecord: Codable {
    private enum KindKey: String, CodingKey {
        case kind
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: KindKey.self)
        let kind = try container.decode(RecordKind.self, forKey: .kind)
        switch kind {
        case .database: self = .database(try Database(from: decoder))
        case .schema: self = .schema(try Schema(from: decoder))
        case .table, .view, .materializedView:
            var relation = try Relation(from: decoder)
            relation.kind = Relation.Kind(kind)
            self = .relation(relation)
        case .column: self = .column(try Column(from: decoder))
        case .primaryKey, .foreignKey, .uniqueConstraint, .checkConstraint:
            var constraint = try Constraint(from: decoder)
            constraint.kind = Constraint.Kind(kind)
            self = .constraint(constraint)
        case .index: self = .index(try Index(from: decoder))
        case .lineageEdge: self = .lineageEdge(try LineageEdge(from: decoder))
        case .enumType: self = .enumType(try EnumType(from: decoder))
        case .domainType: self = .domainType(try DomainType(from: decoder))
        case .function: self = .function(try Function(from: decoder))
        case .site, .project, .workbook, .sheet, .dashboard, .dataSource, .field, .customSQL:
            self = .bi(try BIRecord(kind: kind, from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: KindKey.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .database(let record): try record.encode(to: encoder)
        case .schema(let record): try record.encode(to: encoder)
        case .relation(let record): try record.encode(to: encoder)
        case .column(let record): try record.encode(to: encoder)
        case .constraint(let record): try record.encode(to: encoder)
        case .index(let record): try record.encode(to: encoder)
        case .lineageEdge(let record): try record.encode(to: encoder)
        case .enumType(let record): try record.encode(to: encoder)
        case .domainType(let record): try record.encode(to: encoder)
        case .function(let record): try record.encode(to: encoder)
        case .bi(let record): try record.encode(to: encoder)
        }
    }
}
