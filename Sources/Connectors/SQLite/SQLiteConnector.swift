// The SQLite connector reads one database file through the system SQLite library. SQLite has one schema per
// file that matters here (`main`), so a file becomes one database and one schema, named after the file.

internal import CSQLite
public import Logging
public import Metadata
internal import SourceURLs

/// Reads the catalog of one SQLite database file.
///
/// The file is opened read-only and never created; everything is read inside one read transaction, so the
/// records describe a single snapshot even if another process writes meanwhile. Records are emitted table by
/// table as they are read. A relation whose details cannot be read (a virtual table whose module this SQLite
/// lacks, a view over a dropped table) marks the schema incomplete and the extraction carries on.
public struct SQLiteConnector: Connector {
    /// The database file, as given.
    public let path: String
    /// Decides whether the file actually opened may be read, given its absolute path with symlinks resolved; it
    /// runs after the file is opened and before anything is read from it, and throws to refuse it. The agent
    /// checks its local policy here, so a name re-pointed after an earlier check cannot send the read elsewhere.
    public var openedFileCheck: (@Sendable (_ openedPath: String) throws -> Void)?

    public init(path: String, openedFileCheck: (@Sendable (_ openedPath: String) throws -> Void)? = nil) {
        self.path = path
        self.openedFileCheck = openedFileCheck
    }

    public var sourceKind: String { "sqlite" }

    public func extract(
        scope: ExtractionScope, into sink: any RecordSink, logger: Logger
    ) async throws -> SourceReport {
        let pinned = try PinnedSQLiteFile(path: path)
        try openedFileCheck?(pinned.openedPath)
        logger.debug("sqlite.opened", metadata: ["file.path": "\(pinned.openedPath)"])
        let database = try SQLiteDatabase(pinned: pinned, path: path)
        var report = SourceReport(
            source: Manifest.Source(
                kind: sourceKind, serverVersion: String(cString: sqlite3_libversion()), location: path),
            connector: Manifest.Connector(name: "outpost-sqlite", version: ConnectorVersion.current),
            completeness: [])
        let databaseName = Self.databaseName(path: path)
        guard scope.filters.admitsDatabase(databaseName) else { return report }
        try database.execute("BEGIN")
        // Nothing was written; ending the read transaction either way releases the snapshot.
        defer { try? database.execute("ROLLBACK") }
        let reader = try SQLiteCatalogReader(
            database: database, scope: scope, databaseName: databaseName, sink: sink, logger: logger)
        report.completeness = try reader.read()
        return report
    }

    public func check(logger: Logger) async throws -> String {
        let pinned = try PinnedSQLiteFile(path: path)
        try openedFileCheck?(pinned.openedPath)
        let database = try SQLiteDatabase(pinned: pinned, path: path)
        let statement = try database.prepare("SELECT count(*) FROM sqlite_master")
        guard try statement.step(), let entries = statement.int(0) else {
            throw ConnectorError(.queryFailed, "SQLite could not count the schema of \(path): \(database.errorMessage)")
        }
        return "opened \(pinned.openedPath) read-only (SQLite \(String(cString: sqlite3_libversion())), "
            + "\(entries) schema entries)"
    }

    /// The database name for a file: its name without the last extension (`shop` for `/data/shop.db`).
    static func databaseName(path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }

    /// `name` as an SQL identifier: in double quotes, with double quotes inside doubled.
    static func quoted(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
