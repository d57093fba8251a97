internal import Crypto

// What both stores derive from a staged asset, computed once in Swift so the two backends store the same values.

extension StagedAsset {
    /// SHA-256 of the body: publish compares fingerprints to tell changed assets from unchanged ones without
    /// comparing bodies.
    var fingerprint: [UInt8] {
        Array(SHA256.hash(data: body))
    }

    /// The name as search compares it. Lower-cased here rather than in SQL because SQLite's `lower()` folds ASCII
    /// only, and search must find `Größe` in both stores alike.
    var nameLower: String {
        name.lowercased()
    }

    /// What search matches words against: the name, the qualified name and the comment, lower-cased here for the
    /// same reason as `nameLower`, one per line so that a word never spans two of them.
    var searchText: String {
        (name + "\n" + qualifiedName + "\n" + (comment ?? "")).lowercased()
    }

    /// `parent` with an empty text read as none: no qualified name is empty, and the PostgreSQL batch insert
    /// passes absent values as empty texts.
    var storedParent: String? {
        parent.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `schema` with an empty text read as none (see `storedParent`).
    var storedSchema: String? {
        schema.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The links and references as the staging's `lineage` column holds them until publish expands them into rows
    /// (SQLite's `json_each`, PostgreSQL's `jsonb_to_recordset`, with the same snake-case keys); nil when the
    /// record states neither, which is every record of a database.
    func storedLineage() throws -> String? {
        guard !links.isEmpty || !references.isEmpty else { return nil }
        return try StoredJSON.encode(
            StoredLineage(
                links: Set(links).sorted { ($0.relation, $0.from, $0.to) < ($1.relation, $1.from, $1.to) }.map {
                    StoredLineage.Link(
                        relation: $0.relation, fromKind: $0.fromKind, fromQN: $0.from, toKind: $0.toKind, toQN: $0.to)
                },
                references: references.enumerated().map { ordinal, reference in
                    StoredLineage.Reference(
                        ordinal: ordinal, relation: reference.relation, connectionType: reference.target.connectionType,
                        host: reference.target.host, port: reference.target.port, database: reference.target.database,
                        schema: reference.target.schema, table: reference.target.table,
                        tableLower: reference.target.tableLower, column: reference.column)
                }))
    }
}

/// The staging's `lineage` column; the keys are the column names of `catalog_links` and `catalog_references`.
private struct StoredLineage: Encodable {
    struct Link: Encodable {
        var relation: String
        var fromKind: String
        var fromQN: String
        var toKind: String
        var toQN: String

        enum CodingKeys: String, CodingKey {
            case relation
            case fromKind = "from_kind"
            case fromQN = "from_qn"
            case toKind = "to_kind"
            case toQN = "to_qn"
        }
    }

    struct Reference: Encodable {
        var ordinal: Int
        var relation: String
        var connectionType: String
        var host: String?
        var port: Int?
        var database: String?
        var schema: String?
        var table: String
        var tableLower: String
        var column: String?

        enum CodingKeys: String, CodingKey {
            case ordinal, relation, host, port
            case connectionType = "connection_type"
            case database = "database_name"
            case schema = "schema_name"
            case table = "table_name"
            case tableLower = "table_lower"
            case column = "column_name"
        }
    }

    var links: [Link]
    var references: [Reference]
}

/// How many assets publish examines, and deletes, at a time: bounds the memory a deletion pass needs however
/// many assets vanished.
enum CatalogPublishing {
    static let deletionBatchSize = 1000

    /// The kinds of record that list a completeness scope: a database's schema, a BI site's project. An asset whose
    /// scope has no staged record of these kinds lies in a scope that vanished (a project is listed even when it
    /// could not be read, so an incomplete one keeps its assets).
    static let scopeKinds = ["schema", "project"]

    /// The refusal of a publish older than the connection's catalog.
    static func superseded(runId: String) -> StorageError {
        StorageError(
            .superseded,
            "run \(runId) was not published: the connection's catalog already holds the delivery of a newer run")
    }
}

/// How many rows the next transaction of one of SQLite's long writes (staging, publishing, clean-up) takes.
///
/// Sized by time rather than rows, so that a request waiting for the single write lock waits about `budget`
/// whatever the machine, the rows or the indexes: grown while transactions finish well inside the budget, shrunk in
/// proportion when one overruns. Measured here, transactions of 2,000 or 250,000 rows publish a large catalog in
/// about the same total time, so short ones cost little.
struct SliceSize {
    /// A request makes several store calls (a heartbeat: its key, the agent, the upsert), and each may wait for one
    /// transaction: the budget is a fraction of the 100 ms a request may take.
    static let budget: Duration = .milliseconds(10)
    static let minimum = 100
    static let maximum = 10_000

    private(set) var rows: Int

    init(rows: Int = 1000) {
        self.rows = min(Self.maximum, max(Self.minimum, rows))
    }

    /// Adjusts `rows` after a transaction of `rows` rows took `elapsed`: towards the number that fits the budget,
    /// at most doubling or quartering at a time so one odd transaction (a checkpoint, a busy core) does not swing it.
    mutating func record(_ elapsed: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let budget = Double(Self.budget.components.attoseconds) * 1e-18 + Double(Self.budget.components.seconds)
        let factor = seconds <= 0 ? 2 : min(2, max(0.25, budget / seconds))
        rows = min(Self.maximum, max(Self.minimum, Int(Double(rows) * factor)))
    }
}
