/// An index on a table or materialized view.
public struct Index: Codable, Sendable, Equatable {
    /// One key of the index: a column or an expression.
    public struct Key: Codable, Sendable, Equatable {
        public var column: String?
        public var expression: String?
        public var descending: Bool?

        public init(column: String? = nil, expression: String? = nil, descending: Bool? = nil) {
            self.column = column
            self.expression = expression
            self.descending = descending
        }
    }

    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var table: QualifiedName
    public var keys: [Key]
    /// Non-key columns carried in the index (`INCLUDE`).
    public var includedColumns: [String]?
    public var unique: Bool
    public var primary: Bool?
    /// The `WHERE` clause of a partial index.
    public var predicate: String?
    /// The access method: `btree`, `hash`, `gin`, `gist`, …
    public var method: String?
    /// The full `CREATE INDEX` statement as the source prints it.
    public var definition: String?
    public var sizeBytes: Int64?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName,
        table: QualifiedName, keys: [Key], unique: Bool
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
        self.table = table
        self.keys = keys
        self.unique = unique
    }
}
