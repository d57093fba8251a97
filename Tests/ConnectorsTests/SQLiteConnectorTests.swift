import Foundation
import Logging
import Metadata
import SourceURLs
import Synchronization
import Testing

@testable import Connectors

@Suite("SQLiteConnector")
struct SQLiteConnectorTests {
    // MARK: Catalog

    @Test("names the file's database after the file and puts everything in schema main")
    func databaseAndSchema() async throws {
        let file = try TemporarySQLiteFile("CREATE TABLE t (a INTEGER);", fileName: "shop.db")
        defer { file.remove() }
        let (records, report) = try await extract(file.path)

        let database = try #require(records.databases.first)
        #expect(database.name == "shop")
        #expect(database.qualifiedName.description == "local/shop")
        #expect(database.encoding == "UTF-8")
        #expect((database.sizeBytes ?? 0) > 0)
        let schema = try #require(records.schemas.first)
        #expect(schema.qualifiedName.description == "local/shop/main")
        #expect(records.relations.map(\.qualifiedName.description) == ["local/shop/main/t"])
        #expect(records.relations.first?.tableType == .base)
        #expect(records.count { if case .database = $0 { true } else { false } } == 1)

        #expect(report.source.kind == "sqlite")
        #expect(report.source.location == file.path)
        #expect(report.source.serverVersion?.hasPrefix("3.") == true)
        #expect(report.connector == Manifest.Connector(name: "outpost-sqlite", version: ConnectorVersion.current))
        #expect(
            report.completeness == [
                Manifest.Completeness(
                    database: "shop", schema: nil, qualifiedName: schema.database, complete: true),
                Manifest.Completeness(
                    database: "shop", schema: "main", qualifiedName: schema.qualifiedName, complete: true),
            ])
    }

    @Test("quotes awkward table and column names in every query and their qualified names round-trip")
    func awkwardIdentifiers() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE "select" ("from" INTEGER PRIMARY KEY, "a""b" TEXT);
            CREATE TABLE "a""b" (id INTEGER PRIMARY KEY, "select" INTEGER REFERENCES "select" ("from"));
            CREATE TABLE "with space" ("col umn" TEXT UNIQUE);
            CREATE TABLE "ü表" ("列" TEXT, "~x%y" TEXT);
            CREATE TABLE "a/b.c" (v TEXT);
            CREATE INDEX "ix ü/表" ON "ü表" ("列");
            CREATE VIEW "v""iew" AS SELECT s."a""b", q."列" FROM "select" AS s, "ü表" AS q;
            """)
        defer { file.remove() }
        let (records, report) = try await extract(file.path)

        #expect(report.completeness.allSatisfy { $0.complete })
        #expect(
            Set(records.relations.map(\.name)) == ["select", "a\"b", "with space", "ü表", "a/b.c", "v\"iew"])
        for record in records {
            #expect(try QualifiedName(parsing: record.qualifiedName.description) == record.qualifiedName)
        }
        #expect(records.relations.contains { $0.qualifiedName.description == "local/test/main/a%2Fb.c" })
        #expect(records.columns(of: "ü表").map(\.name) == ["列", "~x%y"])
        #expect(records.columns(of: "select").map(\.name) == ["from", "a\"b"])
        #expect(records.columns(of: "with space").map(\.name) == ["col umn"])
        let foreignKey = try #require(records.constraints(.foreignKey, of: "a\"b").first)
        #expect(foreignKey.referencedTable?.parts.last == "select")
        #expect(foreignKey.referencedColumns == ["from"])
        #expect(records.indexes(of: "ü表").map(\.name) == ["ix ü/表"])
        #expect(records.constraints(.uniqueConstraint, of: "with space").map(\.columns) == [["col umn"]])
        let edges = records.lineageEdges.filter { $0.downstream.parts.last == "v\"iew" }
        #expect(edges.map(\.name) == ["select", "ü表"])
        #expect(edges.map(\.upstreamColumns) == [["a\"b"], ["列"]])
    }

    // MARK: Columns

    @Test("reads declared types, type families, nullability, defaults and generation expressions")
    func columns() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE items (
                id INTEGER PRIMARY KEY,
                code VARCHAR(16) NOT NULL DEFAULT 'n/a',
                price DECIMAL(10, 2),
                weight DOUBLE PRECISION,
                active BOOLEAN NOT NULL DEFAULT 1,
                created_on DATE,
                updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
                payload JSON,
                external_id UUID,
                picture BLOB,
                anything,
                total REAL GENERATED ALWAYS AS (price * 2) STORED,
                label AS (upper(code))
            );
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)
        let columns = records.columns(of: "items")

        #expect(columns.map(\.ordinal) == Array(1...13))
        #expect(
            columns.map(\.typeFamily) == [
                .integer, .string, .decimal, .float, .boolean, .date, .timestamp, .json, .uuid, .binary, .other,
                .float, .other,
            ])
        #expect(columns.map(\.nativeType)[0...3] == ["INTEGER", "VARCHAR(16)", "DECIMAL(10, 2)", "DOUBLE PRECISION"])
        #expect(columns[10].nativeType == "")
        // The rowid alias is never NULL even though SQLite's pragma says otherwise.
        #expect(columns.map(\.nullable)[0...2] == [false, false, true])
        #expect(columns[1].defaultExpression == "'n/a'")
        #expect(columns[6].defaultExpression == "CURRENT_TIMESTAMP")
        #expect(columns[11].generatedExpression == "price * 2")
        #expect(columns[12].generatedExpression == "upper(code)")
        #expect(columns[11].defaultExpression == nil)
        #expect(columns.allSatisfy { $0.typeSchema == nil })
        #expect(columns[1].qualifiedName == records.relations[0].qualifiedName.appending("code"))
        #expect(columns[1].table == records.relations[0].qualifiedName)
    }

    @Test(
        "maps declared types to type families by meaning first, then by SQLite affinity",
        arguments: [
            ("INTEGER", Column.TypeFamily.integer), ("BIGINT", .integer), ("TINYINT(1)", .integer),
            ("VARCHAR(255)", .string), ("NCHAR(2)", .string), ("CLOB", .string), ("text", .string),
            ("BLOB", .binary), ("", .other), ("REAL", .float), ("FLOAT", .float), ("DOUBLE", .float),
            ("NUMERIC", .decimal), ("DECIMAL(10,2)", .decimal), ("BOOLEAN", .boolean), ("bool", .boolean),
            ("DATE", .date), ("DATETIME", .timestamp), ("TIMESTAMP WITH TIME ZONE", .timestamp), ("TIME", .time),
            ("JSON", .json), ("JSONB", .json), ("UUID", .uuid), ("WHATEVER", .other),
        ])
    func typeFamilies(declared: String, family: Column.TypeFamily) {
        #expect(Column.TypeFamily(sqliteDeclaredType: declared) == family)
    }

    @Test("marks virtual tables and leaves out their hidden columns, also from the lineage of views over them")
    func virtualTable() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE VIRTUAL TABLE notes USING fts5(title, body);
            CREATE VIEW matching AS SELECT title FROM notes WHERE notes MATCH 'tent';
            """)
        defer { file.remove() }
        let (records, report) = try await extract(file.path)

        #expect(report.completeness.allSatisfy { $0.complete })
        #expect(records.relations.first { $0.name == "notes" }?.tableType == .virtual)
        #expect(records.columns(of: "notes").map(\.name) == ["title", "body"])
        #expect(records.constraints(.primaryKey, of: "notes").isEmpty)
        let edge = try #require(records.lineageEdges.first)
        #expect(edge.upstreamKind == .table)
        #expect(edge.upstreamColumns == ["title"])
    }

    // MARK: Keys and indexes

    @Test("reports a composite primary key in key order under its declared name, else pk_<table>")
    func primaryKeys() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE lines (b INTEGER, a TEXT, c TEXT, CONSTRAINT lines_key PRIMARY KEY (a, b)) WITHOUT ROWID;
            CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT);
            CREATE TABLE keyless (v TEXT);
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        let composite = try #require(records.constraints(.primaryKey, of: "lines").first)
        #expect(composite.name == "lines_key")
        #expect(composite.columns == ["a", "b"])
        #expect(composite.qualifiedName.description == "local/test/main/lines/~constraint/lines_key")
        #expect(records.constraints(.primaryKey, of: "plain").map(\.name) == ["pk_plain"])
        #expect(records.constraints(.primaryKey, of: "plain").map(\.columns) == [["id"]])
        #expect(records.constraints(.primaryKey, of: "keyless").isEmpty)
        // The WITHOUT ROWID key's index is reported as the primary index; a rowid alias has no index.
        let primaryIndex = try #require(records.indexes(of: "lines").first)
        #expect(primaryIndex.primary == true)
        #expect(primaryIndex.unique)
        #expect(primaryIndex.keys.map(\.column) == ["a", "b"])
        #expect(records.indexes(of: "plain").isEmpty)
        #expect(records.columns(of: "lines").map(\.nullable) == [false, false, true])
    }

    @Test("reports foreign keys with referenced columns, actions and constraint names")
    func foreignKeys() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE parent (x INTEGER, y INTEGER, PRIMARY KEY (x, y));
            CREATE TABLE other (id INTEGER PRIMARY KEY);
            CREATE TABLE child (
                id INTEGER PRIMARY KEY,
                px INTEGER, py INTEGER,
                other_id INTEGER CONSTRAINT child_other REFERENCES Other ON UPDATE SET NULL,
                CONSTRAINT child_parent FOREIGN KEY (px, py) REFERENCES parent (x, y) ON DELETE CASCADE
            );
            CREATE TABLE loose (p INTEGER REFERENCES parent (x) ON DELETE SET DEFAULT ON UPDATE RESTRICT);
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        let keys = records.constraints(.foreignKey, of: "child").sorted { $0.name < $1.name }
        #expect(keys.map(\.name) == ["child_other", "child_parent"])
        let composite = keys[1]
        #expect(composite.columns == ["px", "py"])
        #expect(composite.referencedTable?.description == "local/test/main/parent")
        #expect(composite.referencedColumns == ["x", "y"])
        #expect(composite.onDelete == "cascade")
        #expect(composite.onUpdate == "noAction")
        #expect(composite.matchType == "simple")
        let implicit = keys[0]
        // `REFERENCES Other` names the parent's primary key, and the stored name's case wins.
        #expect(implicit.referencedTable?.description == "local/test/main/other")
        #expect(implicit.referencedColumns == ["id"])
        #expect(implicit.onUpdate == "setNull")
        let loose = try #require(records.constraints(.foreignKey, of: "loose").first)
        #expect(loose.name == "fk_loose_p")
        #expect(loose.onDelete == "setDefault")
        #expect(loose.onUpdate == "restrict")
    }

    @Test("reports a unique constraint as a constraint and as its index")
    func uniqueConstraints() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE people (
                id INTEGER PRIMARY KEY, email TEXT UNIQUE, first TEXT, last TEXT,
                CONSTRAINT people_name UNIQUE (last, first)
            );
            CREATE UNIQUE INDEX ux_people_lower ON people (lower(email));
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        let uniques = records.constraints(.uniqueConstraint, of: "people").sorted { $0.name < $1.name }
        #expect(uniques.map(\.name) == ["people_name", "uq_people_email"])
        #expect(uniques.map(\.columns) == [["last", "first"], ["email"]])
        let indexes = records.indexes(of: "people")
        #expect(indexes.count == 3)
        let backing = indexes.filter { $0.name.hasPrefix("sqlite_autoindex_people_") }
        #expect(backing.count == 2)
        #expect(backing.allSatisfy { $0.unique && $0.primary == false && $0.definition == nil })
        // A unique index made with CREATE UNIQUE INDEX is an index, not a constraint.
        let index = try #require(indexes.first { $0.name == "ux_people_lower" })
        #expect(index.unique)
        #expect(index.keys == [Index.Key(expression: "lower(email)", descending: false)])
    }

    @Test("gives every constraint of a table a distinct name, even when SQLite's names collide")
    func constraintNamesNeverCollide() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE p (id INTEGER PRIMARY KEY);
            CREATE TABLE t (
                a TEXT, b TEXT, a_b TEXT, p_id INTEGER,
                CONSTRAINT dup UNIQUE (a), CONSTRAINT dup UNIQUE (b),
                UNIQUE (a, b), UNIQUE (a_b),
                CONSTRAINT pk_t FOREIGN KEY (p_id) REFERENCES p (id),
                PRIMARY KEY (a, b)
            );
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)
        let names = records.compactMap { record -> String? in
            guard case .constraint(let constraint) = record, constraint.table.parts.last == "t" else { return nil }
            return constraint.qualifiedName.description
        }
        // SQLite makes no index for UNIQUE (a, b) when the primary key is (a, b), so it reports five.
        #expect(names.count == 5)
        #expect(Set(names).count == names.count, "duplicate constraint names: \(names.sorted())")
    }

    @Test("reports partial and expression indexes with keys, predicate and definition")
    func indexes() async throws {
        let sql = "CREATE INDEX ix_mixed ON events (kind, lower(\"user\") DESC, ts) WHERE kind <> 'debug'"
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, "user" TEXT, ts INTEGER);
            \(sql);
            CREATE INDEX ix_ts ON events (ts DESC);
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        let indexes = records.indexes(of: "events")
        #expect(indexes.map(\.name) == ["ix_mixed", "ix_ts"])
        let mixed = indexes[0]
        #expect(
            mixed.keys == [
                Index.Key(column: "kind", descending: false),
                Index.Key(expression: "lower(\"user\")", descending: true),
                Index.Key(column: "ts", descending: false),
            ])
        #expect(mixed.predicate == "kind <> 'debug'")
        #expect(mixed.definition == sql)
        #expect(mixed.method == "btree")
        #expect(!mixed.unique)
        #expect(mixed.primary == false)
        #expect(mixed.qualifiedName.description == "local/test/main/events/~index/ix_mixed")
        #expect(indexes[1].predicate == nil)
        #expect(indexes[1].keys == [Index.Key(column: "ts", descending: true)])
    }

    // MARK: Views and lineage

    @Test("records which tables and columns a view reads, and a view over a view reads the inner view")
    func lineage() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE a (x INTEGER, y INTEGER, z INTEGER);
            CREATE TABLE b (x INTEGER, w TEXT);
            CREATE VIEW v1 AS SELECT a.x, b.w FROM a JOIN b ON a.y = b.x;
            CREATE VIEW v2 AS SELECT V1.w, a.z FROM V1 JOIN a ON V1.x = a.x;
            CREATE VIEW v3 AS WITH c AS (SELECT z FROM a WHERE y > 0) SELECT count(*) AS n FROM c;
            CREATE VIEW v4 (only) AS WITH c AS (SELECT x FROM b) SELECT v3.n FROM v3, c WHERE c.x IN (SELECT x FROM a);
            CREATE VIEW v5 AS SELECT count(*) AS n FROM b;
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        func edges(_ view: String) -> [String] {
            records.lineageEdges.filter { $0.downstream.parts.last == view }.map {
                "\($0.upstreamKind.rawValue) \($0.name)(\($0.upstreamColumns.joined(separator: ",")))"
            }
        }
        #expect(edges("v1") == ["table a(x,y)", "table b(w,x)"])
        #expect(edges("v2") == ["table a(x,z)", "view v1(w,x)"])
        #expect(edges("v3") == ["table a(y,z)"])
        #expect(edges("v4") == ["table a(x)", "table b(x)", "view v3(n)"])
        #expect(edges("v5") == ["table b()"])

        let edge = try #require(records.lineageEdges.first { $0.downstream.parts.last == "v2" && $0.name == "v1" })
        #expect(edge.qualifiedName.description == "local/test/main/v2/~lineage/local%2Ftest%2Fmain%2Fv1")
        #expect(edge.upstream.description == "local/test/main/v1")
        #expect(edge.downstreamKind == .view)
        #expect(edge.schema.description == "local/test/main")

        let view = try #require(records.relations.first { $0.name == "v1" })
        #expect(view.kind == .view)
        #expect(view.tableType == nil)
        #expect(view.definition == "SELECT a.x, b.w FROM a JOIN b ON a.y = b.x")
        #expect(records.columns(of: "v4").map(\.name) == ["only"])
    }

    @Test("keeps extracting when a view no longer compiles and marks the schema incomplete")
    func brokenView() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE gone (a INTEGER);
            CREATE TABLE kept (a INTEGER);
            CREATE VIEW broken AS SELECT a FROM gone;
            DROP TABLE gone;
            """)
        defer { file.remove() }
        let (records, report) = try await extract(file.path)

        #expect(records.relations.map(\.name) == ["broken", "kept"])
        #expect(records.columns(of: "kept").map(\.name) == ["a"])
        let completeness = try #require(report.completeness.first { $0.schema == "main" })
        #expect(report.completeness.first { $0.schema == nil }?.complete == true)
        #expect(!completeness.complete)
        #expect(completeness.reason?.contains("view \"broken\"") == true)
        #expect(completeness.reason?.contains("gone") == true)
    }

    @Test("reads row estimates from sqlite_stat1 after ANALYZE and none before")
    func rowEstimates() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE counted (id INTEGER PRIMARY KEY, v TEXT);
            CREATE INDEX ix_counted ON counted (v);
            INSERT INTO counted (v) VALUES ('a'), ('b'), ('c');
            CREATE TABLE uncounted (v TEXT);
            ANALYZE counted;
            """)
        defer { file.remove() }
        let (records, _) = try await extract(file.path)

        #expect(records.relations.first { $0.name == "counted" }?.rowEstimate == 3)
        #expect(records.relations.first { $0.name == "uncounted" }?.rowEstimate == nil)
        #expect(!records.relations.contains { $0.name.hasPrefix("sqlite_") })
    }

    // MARK: Filters

    @Test("an excluded table takes its columns, keys, indexes and lineage with it")
    func tableFilter() async throws {
        let file = try TemporarySQLiteFile(
            """
            CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT UNIQUE);
            CREATE TABLE secret (id INTEGER PRIMARY KEY, keep_id INTEGER REFERENCES keep (id), v TEXT);
            CREATE INDEX ix_secret ON secret (v);
            CREATE VIEW secret_view AS SELECT v FROM secret;
            """)
        defer { file.remove() }
        var filters = ExtractionFilters()
        filters.excludeTables = [try NamePattern("secret*")]
        let (records, report) = try await extract(file.path, filters: filters)

        #expect(records.relations.map(\.name) == ["keep"])
        #expect(!records.contains { $0.qualifiedName.parts.contains { $0.hasPrefix("secret") } })
        #expect(records.lineageEdges.isEmpty)
        #expect(records.indexes(of: "keep").count == 1)
        #expect(report.completeness.first?.complete == true)
    }

    @Test("database and schema filters leave out the file's contents")
    func databaseAndSchemaFilters() async throws {
        let file = try TemporarySQLiteFile("CREATE TABLE t (a INTEGER);", fileName: "shop.db")
        defer { file.remove() }

        var excludeDatabase = ExtractionFilters()
        excludeDatabase.excludeDatabases = [try NamePattern("shop")]
        let (none, noReport) = try await extract(file.path, filters: excludeDatabase)
        #expect(none.isEmpty)
        #expect(noReport.completeness.isEmpty)

        var excludeSchema = ExtractionFilters()
        excludeSchema.includeSchemas = [try NamePattern("public")]
        let (onlyDatabase, _) = try await extract(file.path, filters: excludeSchema)
        #expect(onlyDatabase.map(\.kind) == [.database])
    }

    // MARK: Errors

    @Test("a missing file is an unreadable-file error and no file is created")
    func missingFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/missing.db"

        let error = await #expect(throws: ConnectorError.self) { try await extract(path) }
        #expect(error?.code == .unreadableFile)
        #expect(error?.message.contains(path) == true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test(
        "a file that is not a SQLite database is an unreadable-file error",
        arguments: ["short text", String(repeating: "this is not a database\n", count: 100)])
    func notADatabase(contents: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/notes.db"
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))

        let error = await #expect(throws: ConnectorError.self) { try await extract(path) }
        #expect(error?.code == .unreadableFile)
        #expect(error?.message.contains("not a SQLite database") == true)
        #expect(error?.message.contains("\n") == false)
    }

    @Test("a directory is an unreadable-file error")
    func directoryPath() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }

        let error = await #expect(throws: ConnectorError.self) { try await extract(directory.path) }
        #expect(error?.code == .unreadableFile)
        #expect(error?.message.contains("is a directory") == true)
    }

    // MARK: The file opened is the file checked

    @Test("a symlink re-pointed after the opened file was checked does not send the read to the new target")
    func symlinkSwappedAfterCheck() async throws {
        let allowed = try TemporarySQLiteFile("CREATE TABLE allowed_table (a INTEGER);", fileName: "allowed.db")
        let secret = try TemporarySQLiteFile("CREATE TABLE secret_table (s TEXT);", fileName: "secret.db")
        defer {
            allowed.remove()
            secret.remove()
        }
        let link = allowed.directory.path + "/link.db"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: allowed.path)
        let checked = Checked()
        let connector = SQLiteConnector(path: link) { openedPath in
            checked.paths.withLock { $0.append(openedPath) }
            // The worst moment for a swap: after the check, before SQLite opens anything.
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: secret.path)
        }
        let (records, _) = try await extract(connector)

        #expect(checked.paths.withLock { $0 } == [try realPath(allowed.path)])
        #expect(records.relations.map(\.name) == ["allowed_table"])
        // The link now leads to the other file, and an open from here on follows it.
        let (after, _) = try await extract(link)
        #expect(after.relations.map(\.name) == ["secret_table"])
    }

    @Test("the opened-file check sees where a symlink led and refusing stops the read before any record")
    func openedFileCheckRefuses() async throws {
        let secret = try TemporarySQLiteFile("CREATE TABLE secret_table (s TEXT);", fileName: "secret.db")
        defer { secret.remove() }
        let link = secret.directory.path + "/innocent.db"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: secret.path)
        let checked = Checked()
        let connector = SQLiteConnector(path: link) { openedPath in
            checked.paths.withLock { $0.append(openedPath) }
            throw ConnectorError(.permissionDenied, "not allowed: \(openedPath)")
        }
        let sink = CollectingSink()
        await #expect(throws: ConnectorError.self) {
            _ = try await connector.extract(
                scope: ExtractionScope(connection: "local"), into: sink,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        #expect(checked.paths.withLock { $0 } == [try realPath(secret.path)])
        #expect(sink.records.isEmpty)
    }

    @Test("a database in WAL mode is read with what only its -wal file holds yet")
    func writeAheadLog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A writer that never checkpoints leaves the new table in the -wal only; the copies are taken while it is
        // open, so the copied database needs its -wal (and a -shm SQLite builds) to show the table.
        let script = """
            import shutil, sqlite3, sys
            c = sqlite3.connect(sys.argv[1] + "/live.db")
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA wal_autocheckpoint=0")
            c.execute("CREATE TABLE in_file (a INTEGER)")
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.execute("CREATE TABLE only_in_wal (b TEXT)")
            c.commit()
            shutil.copy(sys.argv[1] + "/live.db", sys.argv[1] + "/copy.db")
            shutil.copy(sys.argv[1] + "/live.db-wal", sys.argv[1] + "/copy.db-wal")
            """
        try runPython(script, arguments: [directory.path])
        let (records, _) = try await extract(directory.path + "/copy.db")
        #expect(Set(records.relations.map(\.name)) == ["in_file", "only_in_wal"])
    }

    // MARK: Sample database

    @Test("extracts the bundled sample shop database with its keys, indexes and view lineage")
    func sampleShop() async throws {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Samples/shop.sql")
        let file = try TemporarySQLiteFile(try String(contentsOf: script, encoding: .utf8), fileName: "shop.db")
        defer { file.remove() }
        let (records, report) = try await extract(file.path)

        #expect(report.completeness.allSatisfy { $0.complete })
        #expect(
            records.relations.map(\.name) == [
                "categories", "customer_order_totals", "customers", "order_items", "orders", "orders_by_country",
                "products", "top_products",
            ])
        #expect(records.relations.first { $0.name == "orders" }?.rowEstimate == 2)
        #expect(records.constraints(.primaryKey, of: "order_items").map(\.columns) == [["order_id", "line_no"]])
        #expect(records.constraints(.foreignKey, of: "orders").map(\.name) == ["fk_orders_customer"])
        #expect(records.constraints(.uniqueConstraint, of: "products").map(\.name) == ["uq_products_sku"])
        #expect(records.columns(of: "customers").last?.generatedExpression != nil)
        let lineage = records.lineageEdges.map { "\($0.downstream.parts.last ?? "") <- \($0.name)" }
        #expect(
            lineage == [
                "customer_order_totals <- customers", "customer_order_totals <- orders",
                "orders_by_country <- customer_order_totals", "top_products <- order_items",
                "top_products <- products",
            ])
    }

    // MARK: Helpers

    @Test("derives the database name from the file name without its extension")
    func databaseNames() {
        #expect(SQLiteConnector.databaseName(path: "/data/shop.db") == "shop")
        #expect(SQLiteConnector.databaseName(path: "shop.sqlite3") == "shop")
        #expect(SQLiteConnector.databaseName(path: "/data/archive.2024.db") == "archive.2024")
        #expect(SQLiteConnector.databaseName(path: "/data/.hidden") == ".hidden")
        #expect(SQLiteConnector.databaseName(path: "plain") == "plain")
    }

    @Test("quotes identifiers with double quotes doubled inside")
    func quoting() {
        #expect(SQLiteConnector.quoted("select") == "\"select\"")
        #expect(SQLiteConnector.quoted("a\"b") == "\"a\"\"b\"")
        #expect(SQLiteConnector.quoted("\"") == "\"\"\"\"")
    }

    private func extract(
        _ path: String, filters: ExtractionFilters = ExtractionFilters()
    ) async throws -> ([MetadataRecord], SourceReport) {
        try await extract(SQLiteConnector(path: path), filters: filters)
    }

    private func extract(
        _ connector: SQLiteConnector, filters: ExtractionFilters = ExtractionFilters()
    ) async throws -> ([MetadataRecord], SourceReport) {
        let sink = CollectingSink()
        let report = try await connector.extract(
            scope: ExtractionScope(connection: "local", filters: filters), into: sink,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (sink.records, report)
    }
}

@Suite("SQLiteSchemaSQL")
struct SQLiteSchemaSQLTests {
    @Test("finds a view's query after its header, column list and comments")
    func viewQuery() {
        #expect(SQLiteSchemaSQL.viewQuery("CREATE VIEW v AS SELECT 1") == "SELECT 1")
        #expect(
            SQLiteSchemaSQL.viewQuery("CREATE VIEW IF NOT EXISTS \"as\" (a, b) /* c */ as\n  select 1, 2")
                == "select 1, 2")
        #expect(SQLiteSchemaSQL.viewQuery("CREATE VIEW [x AS y] AS SELECT 'AS'") == "SELECT 'AS'")
        #expect(SQLiteSchemaSQL.viewQuery("CREATE VIEW v") == nil)
    }

    @Test("splits index keys at top-level commas and finds the WHERE clause of a partial index")
    func indexParts() {
        let sql = "CREATE INDEX \"on\" ON t (a COLLATE NOCASE, substr(b, 1, 2) DESC, \"c,d\" ASC) WHERE a > ',' AND (b)"
        #expect(SQLiteSchemaSQL.indexKeys(sql) == ["a COLLATE NOCASE", "substr(b, 1, 2)", "\"c,d\""])
        #expect(SQLiteSchemaSQL.indexPredicate(sql) == "a > ',' AND (b)")
        #expect(SQLiteSchemaSQL.indexPredicate("CREATE INDEX i ON t (a)") == nil)
        #expect(SQLiteSchemaSQL.indexPredicate("CREATE INDEX \"where\" ON t (\"where\")") == nil)
    }

    @Test("reads generation expressions, constraint names and WITHOUT ROWID from CREATE TABLE")
    func table() {
        let table = SQLiteSchemaSQL.table(
            """
            CREATE TABLE "t(x" (
                id INTEGER CONSTRAINT t_pk PRIMARY KEY,
                "a""b" TEXT CONSTRAINT nn NOT NULL CONSTRAINT t_ab UNIQUE, -- a comment, with a comma
                c INT GENERATED ALWAYS AS (id * (2 + 1)) STORED,
                d AS (coalesce("a""b", 'as (x)')),
                e INTEGER CONSTRAINT t_e REFERENCES [other table] (id),
                CONSTRAINT t_ce UNIQUE (c, e),
                CONSTRAINT "t fk" FOREIGN KEY (c) REFERENCES parent (x) ON DELETE CASCADE,
                CONSTRAINT t_check CHECK (c > 0)
            ) WITHOUT ROWID
            """)
        #expect(table.withoutRowid)
        #expect(table.generatedExpression(of: "C") == "id * (2 + 1)")
        #expect(table.generatedExpression(of: "d") == "coalesce(\"a\"\"b\", 'as (x)')")
        #expect(table.generatedExpression(of: "id") == nil)
        #expect(
            table.namedConstraints == [
                .init(kind: .primaryKey, name: "t_pk", columns: ["id"]),
                .init(kind: .unique, name: "t_ab", columns: ["a\"b"]),
                .init(kind: .foreignKey, name: "t_e", columns: ["e"], referencedTable: "other table"),
                .init(kind: .unique, name: "t_ce", columns: ["c", "e"]),
                .init(kind: .foreignKey, name: "t fk", columns: ["c"], referencedTable: "parent"),
            ])
        #expect(!SQLiteSchemaSQL.table("CREATE TABLE t (a)").withoutRowid)
    }

    @Test("compares identifiers as SQLite does, folding ASCII letters only")
    func names() {
        #expect(SQLiteSchemaSQL.sameName("Orders", "oRDERS"))
        #expect(!SQLiteSchemaSQL.sameName("Ü", "ü"))
        #expect(SQLiteSchemaSQL.isVirtualTable("create virtual table f using fts5(a)"))
        #expect(!SQLiteSchemaSQL.isVirtualTable("CREATE TABLE virtual (a)"))
    }
}

/// The paths an opened-file check was given.
private final class Checked: Sendable {
    let paths = Mutex<[String]>([])
}

private func realPath(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else { throw FixtureError(message: "realpath failed for \(path)") }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// Runs a Python script (the test target does not link SQLite itself).
private func runPython(_ script: String, arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw FixtureError(message: "python3 failed: \(message)")
    }
}

/// Collects every record in memory; fine for the small catalogs of tests.
private final class CollectingSink: RecordSink {
    var records: [MetadataRecord] = []

    func write(_ record: MetadataRecord) throws {
        records.append(record)
    }
}

/// A fresh temporary directory, removed by `remove()`.
private struct TemporaryDirectory {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("outpost-sqlite-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A SQLite file built from a SQL script in its own temporary directory.
///
/// Built by Python's `sqlite3` module: the test target does not link SQLite itself, and python3 is present
/// wherever the tests run.
private struct TemporarySQLiteFile {
    let directory: TemporaryDirectory
    let path: String

    init(_ script: String, fileName: String = "test.db") throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/" + fileName
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.close()",
            path,
        ]
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data(script.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            directory.remove()
            throw FixtureError(message: "python3 could not build the test database: \(message)")
        }
    }

    func remove() {
        directory.remove()
    }
}

private struct FixtureError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension [MetadataRecord] {
    fileprivate var databases: [Database] { compactMap { if case .database(let r) = $0 { r } else { nil } } }
    fileprivate var schemas: [Schema] { compactMap { if case .schema(let r) = $0 { r } else { nil } } }
    fileprivate var relations: [Relation] { compactMap { if case .relation(let r) = $0 { r } else { nil } } }
    fileprivate var lineageEdges: [LineageEdge] {
        compactMap { if case .lineageEdge(let r) = $0 { r } else { nil } }
    }

    fileprivate func columns(of table: String) -> [Column] {
        compactMap { if case .column(let r) = $0, r.table.parts.last == table { r } else { nil } }
    }

    fileprivate func constraints(_ kind: Constraint.Kind, of table: String) -> [Constraint] {
        compactMap {
            if case .constraint(let r) = $0, r.kind == kind, r.table.parts.last == table { r } else { nil }
        }
    }

    fileprivate func indexes(of table: String) -> [Metadata.Index] {
        compactMap { if case .index(let r) = $0, r.table.parts.last == table { r } else { nil } }
    }
}
