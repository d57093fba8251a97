/// A column of a table, view or materialized view.
public struct Column: Codable, Sendable, Equatable {
    /// A normalised type family, the same for every source, so consumers can compare types across engines.
    public enum TypeFamily: String, Codable, Sendable, CaseIterable {
        case boolean, integer, decimal, float, string, binary, date, time, timestamp, interval
        case json, uuid, array, enumeration = "enum", composite, range, network, geometric, bitString, other
    }

    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var table: QualifiedName
    /// 1-based position among the relation's live columns.
    public var ordinal: Int
    /// The type as the source prints it, with modifiers (`character varying(64)`, `integer[]`).
    public var nativeType: String
    /// The schema the type is defined in (`pg_catalog` for built-ins), when the source has one.
    public var typeSchema: String?
    public var typeFamily: TypeFamily
    /// For domain-typed columns: the domain's base type, so the column is typed even if the domain is unknown.
    public var baseType: String?
    /// For array columns: the element type.
    public var elementType: String?
    public var nullable: Bool
    public var defaultExpression: String?
    /// `always` or `byDefault` for identity columns.
    public var identity: String?
    /// The generation expression of a generated column.
    public var generatedExpression: String?
    public var collation: String?
    public var comment: String?
    /// Tags set on the column, sorted (format 1.1).
    public var tags: [Tag]?
    /// Policies attached to the column (masking policies), sorted (format 1.1).
    public var policies: [PolicyReference]?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName,
        table: QualifiedName, ordinal: Int, nativeType: String, typeFamily: TypeFamily, nullable: Bool
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.table = table
        self.ordinal = ordinal
        self.nativeType = nativeType
        self.typeFamily = typeFamily
        self.nullable = nullable
    }
}
