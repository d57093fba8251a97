internal import CSQLite
internal import Metadata
internal import SourceURLs

/// Finds the tables and views a view reads, and which of their columns, by letting SQLite compile the view.
///
/// SQLite's authorizer reports every column read while a statement is prepared (nothing is executed) as
/// `SQLITE_READ` with the table, the column, and the innermost *context*: the name under which the FROM item
/// whose body is being compiled was referenced, a view or a common table expression. Preparing
/// `SELECT * FROM "main"."V"` therefore reports:
///
/// - V's own reads with context `V` (reads of a view W's columns included, as table `W`);
/// - reads in the bodies of CTEs V defines, with the CTE's name as context;
/// - the reads of every view V expands, transitively, with that view's (or its CTEs') names as context;
/// - the outer statement's reads of V itself, with no context.
///
/// A read is V's own when its context is V, or when its context is not a view (so a CTE) and compiling the
/// views V expands does not produce the same read, which would make it a read inside one of their CTEs.
/// So a view over a view yields an edge to the inner view with the inner view's columns, not edges to the
/// inner view's tables. The one ambiguity left, a CTE of V and a CTE of a view V expands that share a name
/// and read the same column, attributes that read to the inner view only.
final class SQLiteLineageReader {
    /// One relation a view reads directly.
    struct Upstream: Equatable {
        var name: String
        /// `.table` or `.view`.
        var kind: RecordKind
        /// The columns read, sorted; empty when none is named (`SELECT count(*) FROM t`).
        var columns: [String]
    }

    /// One column read reported while compiling a query.
    struct Read: Hashable {
        var table: String
        /// Empty when the query reads the table without naming a column.
        var column: String
        var context: String
    }

    /// The authorizer's state: a box whose address travels through SQLite's user-data pointer.
    private final class Collector {
        var reads: Set<Read> = []
    }

    private let database: SQLiteDatabase
    private let relationLookup: SQLiteStatement
    private let hiddenColumns: SQLiteStatement

    init(database: SQLiteDatabase) throws {
        self.database = database
        // Names reported in a FROM clause can differ in case from the stored name; SQLite folds ASCII only,
        // as NOCASE does.
        relationLookup = try database.prepare(
            """
            SELECT name, type FROM sqlite_master
            WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
            """)
        hiddenColumns = try database.prepare("SELECT name FROM pragma_table_xinfo(?1, 'main') WHERE hidden = 1")
    }

    /// The relations `view` reads directly, sorted by name.
    func upstreams(ofView view: String) throws -> [Upstream] {
        let all = try reads(compiling: view)
        var viewNames: [String: Bool] = [:]
        func isView(_ name: String) throws -> Bool {
            let key = SQLiteSchemaSQL.folded(name)
            if let known = viewNames[key] { return known }
            let answer = try relation(named: name)?.kind == .view
            viewNames[key] = answer
            return answer
        }
        var inherited = Set<Read>()
        for inner in Set(all.map(\.table)) where try !SQLiteSchemaSQL.sameName(inner, view) && isView(inner) {
            inherited.formUnion(try reads(compiling: inner))
        }
        var columnsByTable: [String: Set<String>] = [:]
        for read in all {
            let own =
                try SQLiteSchemaSQL.sameName(read.context, view)
                || (!isView(read.context) && !inherited.contains(read))
            guard own else { continue }
            columnsByTable[read.table, default: []].formUnion(read.column.isEmpty ? [] : [read.column])
        }
        var upstreams: [Upstream] = []
        for (table, columns) in columnsByTable {
            // Table-valued functions (`json_each`) and SQLite's own tables are not relations of the catalog.
            guard let relation = try relation(named: table) else { continue }
            // A virtual table's hidden columns (an FTS table's own name in `MATCH`) have no column records.
            let hidden = relation.kind == .table ? (try? self.hidden(columnsOf: relation.name)) ?? [] : []
            upstreams.append(
                Upstream(name: relation.name, kind: relation.kind, columns: columns.subtracting(hidden).sorted()))
        }
        return upstreams.sorted { $0.name < $1.name }
    }

    /// Every column read, with a context, reported while preparing `SELECT * FROM "main"."<view>"`.
    func reads(compiling view: String) throws -> Set<Read> {
        let collector = Collector()
        let authorizer:
            @convention(c) (
                UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                UnsafePointer<CChar>?, UnsafePointer<CChar>?
            ) -> Int32 = { userData, action, table, column, schema, context in
                guard action == SQLITE_READ, let userData, let table, let context else { return SQLITE_OK }
                // Reads in attached or temporary databases are not part of this file's catalog.
                if let schema, String(cString: schema) != "main" { return SQLITE_OK }
                let collector = Unmanaged<Collector>.fromOpaque(userData).takeUnretainedValue()
                collector.reads.insert(
                    Read(
                        table: String(cString: table), column: column.map { String(cString: $0) } ?? "",
                        context: String(cString: context)))
                return SQLITE_OK
            }
        return try withExtendedLifetime(collector) {
            sqlite3_set_authorizer(database.handle, authorizer, Unmanaged.passUnretained(collector).toOpaque())
            defer { sqlite3_set_authorizer(database.handle, nil, nil) }
            do {
                // Prepared and finalised, never stepped: compiling is what reports the reads.
                _ = try database.prepare("SELECT * FROM \"main\".\(SQLiteConnector.quoted(view))")
            } catch {
                throw ConnectorError(
                    .queryFailed, "view \(SQLiteConnector.quoted(view)) does not compile: \(database.errorMessage)")
            }
            return collector.reads
        }
    }

    private func hidden(columnsOf table: String) throws -> Set<String> {
        var names: Set<String> = []
        try hiddenColumns.bind(table)
        while try hiddenColumns.step() {
            if let name = hiddenColumns.text(0) { names.insert(name) }
        }
        return names
    }

    /// The stored name and kind of the table or view `name` refers to, if it is one.
    func relation(named name: String) throws -> (name: String, kind: RecordKind)? {
        try relationLookup.bind(name)
        guard try relationLookup.step(), let stored = relationLookup.text(0) else { return nil }
        return (stored, relationLookup.text(1) == "view" ? .view : .table)
    }
}
