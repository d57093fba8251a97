#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// One versioned step of a database schema, applied once and recorded in `schema_migrations`.
///
/// Steps are append-only: a released version is never edited, a change is a new version. Each backend keeps its
/// own list (the SQL dialects differ) but the same version numbers mean the same logical schema.
struct SchemaMigration: Sendable {
    /// Strictly increasing from 1.
    let version: Int
    /// A few words for logs.
    let name: String
    /// Statements run in order inside the migration's transaction; one statement each, because PostgreSQL's
    /// extended query protocol does not take several.
    let statements: [String]

    /// The wall clock for `schema_migrations.applied_at`, the one time the stores read themselves; run times
    /// always come from callers so tests control them.
    static func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }
}
