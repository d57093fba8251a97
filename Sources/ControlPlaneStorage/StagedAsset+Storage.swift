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

    /// `parent` with an empty text read as none: no qualified name is empty, and the PostgreSQL batch insert
    /// passes absent values as empty texts.
    var storedParent: String? {
        parent.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `schema` with an empty text read as none (see `storedParent`).
    var storedSchema: String? {
        schema.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// How many assets publish examines, and deletes, at a time: bounds the memory a deletion pass needs however
/// many assets vanished.
enum CatalogPublishing {
    static let deletionBatchSize = 1000

    /// The kind of the record that lists a schema; an asset whose schema has no staged record of this kind lies in
    /// a schema that vanished.
    static let schemaKind = "schema"

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
