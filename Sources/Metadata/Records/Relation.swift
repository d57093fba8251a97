/// A table, view or materialized view.
public struct Relation: Codable, Sendable, Equatable {
    /// Which of the three relation kinds this is; written as the record's `kind`.
    public enum Kind: String, Sendable, Equatable {
        case table
        case view
        case materializedView

        init(_ kind: RecordKind) {
            switch kind {
            case .view: self = .view
            case .materializedView: self = .materializedView
            default: self = .table
            }
        }

        var recordKind: RecordKind {
            switch self {
            case .table: .table
            case .view: .view
            case .materializedView: .materializedView
            }
        }
    }

    /// Finer distinctions among tables.
    public enum TableType: String, Codable, Sendable, Equatable {
        case base
        case partitioned
        case foreign
        case virtual
    }

    /// Set from the record's `kind` when decoding; not a JSON field of its own.
    public var kind: Kind = .table
    public var qualifiedName: QualifiedName
    public var name: String
    public var database: QualifiedName
    public var schema: QualifiedName
    public var tableType: TableType?
    public var owner: String?
    /// `permanent`, `unlogged` or `temporary`.
    public var persistence: String?
    /// True for a table kept without the source's fail-safe recovery (Snowflake's transient tables).
    public var transient: Bool?
    /// The source's own finer table type where `tableType` cannot say it, an open vocabulary (format 1.1). Snowflake:
    /// `external`, `dynamic`, `iceberg`, `event`, `hybrid`.
    public var sourceTableType: String?
    public var rowEstimate: Int64?
    public var sizeBytes: Int64?
    /// The SQL text of a view or materialized view.
    public var definition: String?
    /// For a materialized view: whether it holds data.
    public var populated: Bool?
    /// For a partition: the partitioned table it belongs to.
    public var partitionOf: QualifiedName?
    /// For a partition: its bound, as the source prints it (`FOR VALUES FROM (…) TO (…)`).
    public var partitionBound: String?
    /// For a partitioned table: its partition key, as the source prints it (`RANGE (created_on)`).
    public var partitionKey: String?
    /// Tables this one inherits from (PostgreSQL inheritance, not partitioning).
    public var inherits: [QualifiedName]?
    public var comment: String?
    /// The clustering key, as the source prints it (Snowflake: `LINEAR(region, day)`).
    public var clusteringKey: String?
    /// RFC 3339 UTC, when the source reports it.
    public var createdAt: String?
    /// RFC 3339 UTC: the last DDL change (or, for Snowflake, data change) the source reports.
    public var lastAlteredAt: String?
    /// Tags set on the relation, sorted.
    public var tags: [Tag]?
    /// Policies attached to the relation (row-access policies), sorted.
    public var policies: [PolicyReference]?

    private enum CodingKeys: String, CodingKey {
        case qualifiedName, name, database, schema, tableType, owner, persistence, transient, sourceTableType
        case rowEstimate, sizeBytes
        case definition, populated, partitionOf, partitionBound, partitionKey, inherits, comment
        case clusteringKey, createdAt, lastAlteredAt, tags, policies
    }

    public init(
        kind: Kind, qualifiedName: QualifiedName, name: String, database: QualifiedName, schema: QualifiedName
    ) {
        self.kind = kind
        self.qualifiedName = qualifiedName
        self.name = name
        self.database = database
        self.schema = schema
    }
}
