/// A database (PostgreSQL, Snowflake) or database file (SQLite).
public struct Database: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    public var name: String
    public var owner: String?
    public var encoding: String?
    public var collation: String?
    public var sizeBytes: Int64?
    public var comment: String?
    /// True for a database created from a share (Snowflake's imported databases): read-only, owned elsewhere.
    public var imported: Bool?
    /// For an imported database: the share it comes from, as the source names it (`ORG.ACCOUNT.SHARE`).
    public var origin: String?
    /// RFC 3339 UTC, when the source reports it.
    public var createdAt: String?

    public init(
        qualifiedName: QualifiedName, name: String, owner: String? = nil, encoding: String? = nil,
        collation: String? = nil, sizeBytes: Int64? = nil, comment: String? = nil
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.owner = owner
        self.encoding = encoding
        self.collation = collation
        self.sizeBytes = sizeBytes
        self.comment = comment
    }
}

/// A schema (namespace) inside a database.
public struct Schema: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var owner: String?
    public var comment: String?

    public init(
        qualifiedName: QualifiedName, name: String, database: QualifiedName, owner: String? = nil,
        comment: String? = nil
    ) {
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.owner = owner
        self.comment = comment
    }
}
