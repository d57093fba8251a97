/// A tag set on an object, with its value (Snowflake object tagging). Format 1.1.
public struct Tag: Codable, Sendable, Equatable, Comparable {
    /// The database, schema and name of the tag itself.
    public var database: String
    public var schema: String
    public var name: String
    public var value: String?

    public init(database: String, schema: String, name: String, value: String? = nil) {
        self.database = database
        self.schema = schema
        self.name = name
        self.value = value
    }

    public static func < (lhs: Tag, rhs: Tag) -> Bool {
        (lhs.database, lhs.schema, lhs.name, lhs.value ?? "") < (rhs.database, rhs.schema, rhs.name, rhs.value ?? "")
    }
}

/// A policy attached to an object (Snowflake masking and row-access policies). Format 1.1.
public struct PolicyReference: Codable, Sendable, Equatable, Comparable {
    /// The database, schema and name of the policy itself.
    public var database: String
    public var schema: String
    public var name: String
    /// The source's policy kind, an open vocabulary: Snowflake's `MASKING_POLICY`, `ROW_ACCESS_POLICY`,
    /// `AGGREGATION_POLICY`, `PROJECTION_POLICY`, …
    public var kind: String

    public init(database: String, schema: String, name: String, kind: String) {
        self.database = database
        self.schema = schema
        self.name = name
        self.kind = kind
    }

    public static func < (lhs: PolicyReference, rhs: PolicyReference) -> Bool {
        (lhs.database, lhs.schema, lhs.name, lhs.kind) < (rhs.database, rhs.schema, rhs.name, rhs.kind)
    }
}
