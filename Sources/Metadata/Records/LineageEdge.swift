/// A lineage edge: a view or materialized view (downstream) reads a table or view (upstream).
///
/// Its qualified name is the downstream's name, the `~lineage` marker, and the upstream's rendered name as
/// one escaped part, so an edge is identified by the pair it connects.
public struct LineageEdge: Codable, Sendable, Equatable {
    public var qualifiedName: QualifiedName
    /// The upstream relation's plain name.
    public var name: String
    public var database: QualifiedName
    /// The downstream's schema.
    public var schema: QualifiedName
    public var downstream: QualifiedName
    public var downstreamKind: RecordKind
    public var upstream: QualifiedName
    /// The upstream's schema, so consumers need not parse `upstream`.
    public var upstreamSchema: QualifiedName
    public var upstreamKind: RecordKind
    /// The upstream columns the downstream reads; empty when the source cannot tell.
    public var upstreamColumns: [String]

    public init(
        downstream: QualifiedName, downstreamKind: RecordKind, upstream: QualifiedName,
        upstreamSchema: QualifiedName, upstreamKind: RecordKind, name: String, database: QualifiedName,
        schema: QualifiedName, upstreamColumns: [String]
    ) {
        self.qualifiedName = downstream.appending(marker: .lineage, upstream.description)
        self.name = name
        self.database = database
        self.schema = schema
        self.downstream = downstream
        self.downstreamKind = downstreamKind
        self.upstream = upstream
        self.upstreamSchema = upstreamSchema
        self.upstreamKind = upstreamKind
        self.upstreamColumns = upstreamColumns
    }
}
