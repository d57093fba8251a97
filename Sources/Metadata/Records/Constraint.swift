/// A primary key, foreign key, unique or check constraint of a table.
public struct Constraint: Codable, Sendable, Equatable {
    /// Which constraint this is; written as the record's `kind`.
    public enum Kind: String, Sendable, Equatable {
        case primaryKey, foreignKey, uniqueConstraint, checkConstraint

        init(_ kind: RecordKind) {
            switch kind {
            case .foreignKey: self = .foreignKey
            case .uniqueConstraint: self = .uniqueConstraint
            case .checkConstraint: self = .checkConstraint
            default: self = .primaryKey
            }
        }

        var recordKind: RecordKind {
            switch self {
            case .primaryKey: .primaryKey
            case .foreignKey: .foreignKey
            case .uniqueConstraint: .uniqueConstraint
            case .checkConstraint: .checkConstraint
            }
        }
    }

    /// Set from the record's `kind` when decoding; not a JSON field of its own.
    public var kind: Kind = .primaryKey
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var table: QualifiedName
    /// The constrained columns, in key order (empty for a check that names none).
    public var columns: [String]
    /// Foreign keys: the referenced table and its columns, pairwise with `columns`.
    public var referencedTable: QualifiedName?
    public var referencedColumns: [String]?
    /// Foreign keys: `noAction`, `restrict`, `cascade`, `setNull`, `setDefault`.
    public var onDelete: String?
    public var onUpdate: String?
    /// Foreign keys: `simple`, `full` or `partial`.
    public var matchType: String?
    /// Check constraints: the boolean expression.
    public var expression: String?
    public var deferrable: Bool?
    public var initiallyDeferred: Bool?
    /// False for a constraint added `NOT VALID` and not yet validated.
    public var validated: Bool?
    public var comment: String?

    private enum CodingKeys: String, CodingKey {
        case qualifiedName, name, database, schema, table, columns, referencedTable, referencedColumns
        case onDelete, onUpdate, matchType, expression, deferrable, initiallyDeferred, validated, comment
    }

    public init(
        kind: Kind, qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName,
        table: QualifiedName, columns: [String]
    ) {
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.table = table
        self.columns = columns
    }
}
