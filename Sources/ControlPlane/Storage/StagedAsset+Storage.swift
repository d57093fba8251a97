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

    /// How many rows one transaction of SQLite's staging, publishing and clean-up touches at most: small enough
    /// that a request waiting for the write lock waits milliseconds, large enough that a transaction's fixed cost
    /// does not dominate.
    static let sliceSize = 2000

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
