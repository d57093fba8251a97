import Connectors
import Foundation
import Logging
import Metadata
import OutpostTesting
import Testing

/// Extraction of a real PostgreSQL catalog full of traps, checked object by object.
@Suite("PostgreSQL connector", .serialized)
struct PostgresConnectorTests {
    static let fixture = try! String(
        contentsOfFile: BuildProducts.repositoryRoot + "/Tests/Fixtures/tricky-catalog.sql", encoding: .utf8)

    /// Extracts `database` of the test server through the connector into a collecting sink.
    static func extract(
        database: String, filters: ExtractionFilters = ExtractionFilters(), user: String? = nil,
        password: String? = nil
    ) async throws -> (CollectingSink, SourceReport) {
        let server = try TestPostgres()
        let resolved = try SourceLocation.resolve(
            server.url(database: database, user: user), password: password ?? server.password)
        let sink = CollectingSink()
        let report = try await resolved.connector.extract(
            scope: ExtractionScope(connection: "pg", filters: filters), into: sink, logger: Logger(label: "test"))
        return (sink, report)
    }

    /// Extracts through the same `RecordPipeline` the CLI and agent use, so kind and field exclusions apply.
    static func extractThroughPipeline(
        database: String, filters: ExtractionFilters
    ) async throws -> (
        CollectingSink, SourceReport
    ) {
        let server = try TestPostgres()
        let resolved = try SourceLocation.resolve(server.url(database: database), password: server.password)
        let sink = CollectingSink()
        let pipeline = RecordPipeline(next: sink, filters: filters, progress: ExtractionProgress())
        let report = try await resolved.connector.extract(
            scope: ExtractionScope(connection: "pg", filters: filters), into: pipeline, logger: Logger(label: "test"))
        return (sink, report)
    }

    static func withFixture<T>(_ body: (String) async throws -> T) async throws -> T {
        let server = try TestPostgres()
        let database = try server.createDatabase(loading: fixture)
        defer { server.dropDatabase(database) }
        return try await body(database)
    }

    @Test("every table, view and materialized view is extracted with its attributes")
    func relations() async throws {
        try await Self.withFixture { database in
            let (sink, report) = try await Self.extract(database: database)
            let prefix = "pg/\(database)"
            #expect(report.source.kind == "postgresql")
            #expect(report.source.serverVersion?.isEmpty == false)
            #expect(report.completeness.allSatisfy { $0.complete })

            guard case .relation(let customers) = sink.record("\(prefix)/public/customers") else {
                Issue.record("customers missing")
                return
            }
            #expect(customers.kind == .table)
            #expect(customers.tableType == .base)
            #expect(customers.comment == "People who buy; it's \"quoted\"\nand spans two lines")
            #expect(customers.rowEstimate == 50)
            #expect((customers.sizeBytes ?? 0) > 0)
            #expect(customers.persistence == "permanent")

            guard case .relation(let events) = sink.record("\(prefix)/public/events") else {
                Issue.record("events missing")
                return
            }
            #expect(events.tableType == .partitioned)
            #expect(events.partitionKey == "RANGE (happened)")
            guard case .relation(let partition) = sink.record("\(prefix)/public/events_2024") else {
                Issue.record("events_2024 missing")
                return
            }
            #expect(partition.partitionOf?.description == "\(prefix)/public/events")
            #expect(partition.partitionBound == "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")

            guard case .relation(let child) = sink.record("\(prefix)/public/child_log") else {
                Issue.record("child_log missing")
                return
            }
            #expect(child.inherits?.map(\.description) == ["\(prefix)/public/base_log"])
            #expect(child.partitionOf == nil)

            guard case .relation(let view) = sink.record("\(prefix)/a%2Fb.c/view over view") else {
                Issue.record("view over view missing")
                return
            }
            #expect(view.kind == .view)
            #expect(view.definition?.contains("customer_emails") == true)
            #expect(view.rowEstimate == nil)

            guard case .relation(let matview) = sink.record("\(prefix)/public/mv_scores") else {
                Issue.record("mv_scores missing")
                return
            }
            #expect(matview.kind == .materializedView)
            #expect(matview.populated == true)
            #expect(matview.definition?.contains("customers") == true)

            let long = String(repeating: "t", count: 63)
            #expect(sink.record("\(prefix)/схема/\(long)") != nil)
            #expect(sink.record("\(prefix)/a%2Fb.c/x%2Fy.z \"quoted\"") != nil)
            #expect(sink.record("\(prefix)/Sales Dept/Order Items") != nil)

            let relationNames = Set(
                sink.records.filter { [.table, .view, .materializedView].contains($0.kind) }
                    .map { $0.qualifiedName.parts.suffix(2).joined(separator: ".") })
            #expect(
                relationNames == [
                    "public.customers", "Sales Dept.Order Items", "a/b.c.x/y.z \"quoted\"", "схема.\(long)",
                    "public.events", "public.events_2024", "public.events_2025", "public.event_refs", "public.base_log",
                    "public.child_log",
                    "public.customer_emails", "a/b.c.view over view", "public.mv_scores", "restricted.payroll",
                ])
        }
    }

    @Test("columns carry ordinal, types, nullability, defaults, identity, generation, collation and comments")
    func columns() async throws {
        try await Self.withFixture { database in
            let (sink, _) = try await Self.extract(database: database)
            let table = "pg/\(database)/public/customers"
            func column(_ name: String) throws -> Column {
                guard case .column(let column) = sink.record("\(table)/\(name)") else {
                    throw TestPostgres.Unavailable(description: "column \(name) missing")
                }
                return column
            }
            let id = try column("id")
            #expect(id.ordinal == 1)
            #expect(id.nativeType == "integer")
            #expect(id.typeFamily == .integer)
            #expect(id.identity == "always")
            #expect(id.nullable == false)
            #expect(id.table.description == table)
            #expect(id.schema.description == "pg/\(database)/public")
            #expect(id.database.description == "pg/\(database)")

            let email = try column("email")
            #expect(email.comment == "Primary contact")
            #expect(email.typeFamily == .string)

            let display = try column("Display Name")
            #expect(display.nativeType == "character varying(64)")
            #expect(display.defaultExpression == "'n/a'::character varying")
            #expect(display.nullable)

            let score = try column("score")
            #expect(score.nativeType == "public.positive_int")
            #expect(score.baseType == "integer")
            #expect(score.typeFamily == .integer)
            #expect(score.typeSchema == "public")

            let tags = try column("tags")
            #expect(tags.typeFamily == .array)
            #expect(tags.elementType == "text")

            let doubled = try column("doubled")
            #expect(doubled.generatedExpression == "(\"Order\" * 2)")
            #expect(doubled.defaultExpression == nil)
            #expect(doubled.ordinal == 8)

            let code = try column("code")
            #expect(code.collation == "C")
            #expect(code.nativeType == "character(8)")

            let created = try column("created")
            #expect(created.typeFamily == .timestamp)
            #expect(created.defaultExpression == "now()")

            guard case .column(let mood) = sink.record("pg/\(database)/Sales Dept/Order Items/mood") else {
                Issue.record("mood column missing")
                return
            }
            #expect(mood.typeFamily == .enumeration)
            #expect(mood.typeSchema == "Sales Dept")

            let long = String(repeating: "t", count: 63)
            let longColumn = String(repeating: "c", count: 63)
            #expect(sink.record("pg/\(database)/схема/\(long)/\(longColumn)") != nil)

            let viewColumns = sink.records(of: .column).filter {
                $0.qualifiedName.description.hasPrefix("pg/\(database)/a%2Fb.c/view over view/")
            }
            #expect(viewColumns.count == 2)
            // customers 9, Order Items 5, x/y.z 2, long 1, events + 2 partitions 3 each, event_refs 2,
            // base_log 2, child_log 3, customer_emails 2, view over view 2, mv_scores 2, payroll 2.
            let expectedColumns = 9 + 5 + 2 + 1 + 9 + 2 + 2 + 3 + 2 + 2 + 2 + 2
            #expect(sink.records(of: .column).count == expectedColumns)
        }
    }

    @Test("keys, constraints and indexes are extracted, including cross-schema foreign keys")
    func constraintsAndIndexes() async throws {
        try await Self.withFixture { database in
            let (sink, _) = try await Self.extract(database: database)
            let prefix = "pg/\(database)"
            guard
                case .constraint(let pk) = sink.record("\(prefix)/Sales Dept/Order Items/~constraint/Order Items_pkey")
            else {
                Issue.record("composite primary key missing")
                return
            }
            #expect(pk.kind == .primaryKey)
            #expect(pk.columns == ["order_id", "line"])

            guard case .constraint(let fk) = sink.record("\(prefix)/Sales Dept/Order Items/~constraint/fk to customers")
            else {
                Issue.record("foreign key missing")
                return
            }
            #expect(fk.kind == .foreignKey)
            #expect(fk.columns == ["order_id"])
            #expect(fk.referencedTable?.description == "\(prefix)/public/customers")
            #expect(fk.referencedColumns == ["id"])
            #expect(fk.onDelete == "cascade")
            #expect(fk.onUpdate == "setNull")
            #expect(fk.matchType == "simple")

            guard
                case .constraint(let unique) = sink.record("\(prefix)/public/customers/~constraint/customers_email_key")
            else {
                Issue.record("unique constraint missing")
                return
            }
            #expect(unique.kind == .uniqueConstraint)
            #expect(unique.columns == ["email"])

            guard case .constraint(let check) = sink.record("\(prefix)/public/customers/~constraint/score_sane") else {
                Issue.record("check constraint missing")
                return
            }
            #expect(check.kind == .checkConstraint)
            #expect(check.expression == "CHECK (((score)::integer < 1000))")

            // Exactly the declared foreign keys: none of PostgreSQL's hidden per-partition clones.
            let foreignKeys = sink.records(of: .foreignKey).map { $0.qualifiedName.description }.sorted()
            #expect(
                foreignKeys == [
                    "\(prefix)/Sales Dept/Order Items/~constraint/fk to customers",
                    "\(prefix)/public/event_refs/~constraint/event_refs_event_fkey",
                ])
            guard case .constraint(let partitionedReference) = sink.record(foreignKeys[1]) else {
                Issue.record("foreign key to a partitioned table missing")
                return
            }
            #expect(partitionedReference.referencedTable?.description == "\(prefix)/public/events")
            #expect(partitionedReference.columns == ["event_id", "happened"])
            #expect(sink.records(of: .checkConstraint).count == 1)
            #expect(sink.records(of: .uniqueConstraint).count == 1)
            // Primary keys: customers, Order Items, x/y.z, events and its two partitions, event_refs, payroll.
            #expect(sink.records(of: .primaryKey).count == 8)

            guard case .index(let partial) = sink.record("\(prefix)/public/customers/~index/customers_recent") else {
                Issue.record("partial index missing")
                return
            }
            #expect(partial.keys == [Index.Key(column: "created", expression: nil, descending: true)])
            #expect(partial.predicate == "((score)::integer > 10)")
            #expect(partial.method == "btree")
            #expect(partial.unique == false)

            guard case .index(let expression) = sink.record("\(prefix)/public/customers/~index/customers_lower_email")
            else {
                Issue.record("expression index missing")
                return
            }
            #expect(expression.keys == [Index.Key(column: nil, expression: "lower(email)", descending: nil)])
            #expect(expression.includedColumns == ["Display Name"])

            guard case .index(let hash) = sink.record("\(prefix)/Sales Dept/Order Items/~index/order_items_hash") else {
                Issue.record("hash index missing")
                return
            }
            #expect(hash.method == "hash")
            #expect(hash.keys.first?.column == "select")

            guard case .index(let matviewIndex) = sink.record("\(prefix)/public/mv_scores/~index/mv_scores_id") else {
                Issue.record("materialized view index missing")
                return
            }
            #expect(matviewIndex.unique)
        }
    }

    @Test("lineage edges link views to the relations and columns they read")
    func lineage() async throws {
        try await Self.withFixture { database in
            let (sink, _) = try await Self.extract(database: database)
            let prefix = "pg/\(database)"
            let edges = sink.records(of: .lineageEdge).compactMap { record -> LineageEdge? in
                if case .lineageEdge(let edge) = record { return edge }
                return nil
            }
            let byPair = Dictionary(
                uniqueKeysWithValues: edges.map { ("\($0.downstream) <- \($0.upstream)", $0) })
            let emails = try #require(byPair["\(prefix)/public/customer_emails <- \(prefix)/public/customers"])
            #expect(emails.upstreamColumns == ["email", "id"])
            #expect(emails.downstreamKind == .view)
            #expect(emails.upstreamKind == .table)
            let overView = try #require(
                byPair["\(prefix)/a%2Fb.c/view over view <- \(prefix)/public/customer_emails"])
            #expect(overView.upstreamKind == .view)
            #expect(overView.upstreamColumns == ["email", "id"])
            let items = try #require(byPair["\(prefix)/a%2Fb.c/view over view <- \(prefix)/Sales Dept/Order Items"])
            #expect(items.upstreamColumns == ["order_id", "price"])
            let matview = try #require(byPair["\(prefix)/public/mv_scores <- \(prefix)/public/customers"])
            #expect(matview.downstreamKind == .materializedView)
            #expect(edges.count == 4)
            for edge in edges {
                let parsed = try QualifiedName(parsing: edge.qualifiedName.description)
                #expect(parsed == edge.qualifiedName)
            }
        }
    }

    @Test("enums, domains, functions and procedures are extracted")
    func typesAndRoutines() async throws {
        try await Self.withFixture { database in
            let (sink, _) = try await Self.extract(database: database)
            let prefix = "pg/\(database)"
            guard case .enumType(let mood) = sink.record("\(prefix)/Sales Dept/~type/mood") else {
                Issue.record("enum missing")
                return
            }
            #expect(mood.values == ["sad", "ok", "it's \"fine\""])
            guard case .domainType(let domain) = sink.record("\(prefix)/public/~type/positive_int") else {
                Issue.record("domain missing")
                return
            }
            #expect(domain.baseType == "integer")
            #expect(domain.nullable == false)
            #expect(domain.defaultExpression == "1")
            #expect(domain.checks == ["CHECK ((VALUE > 0))"])
            #expect(domain.typeFamily == .integer)

            let functions = sink.records(of: .function).compactMap { record -> Function? in
                if case .function(let function) = record { return function }
                return nil
            }
            #expect(Set(functions.map(\.signature)) == ["add_one(x integer)", "add_one(x bigint)", "noop()"])
            let procedure = try #require(functions.first { $0.name == "noop" })
            #expect(procedure.routineType == "procedure")
            #expect(procedure.language == "plpgsql")
            let addOne = try #require(functions.first { $0.signature == "add_one(x integer)" })
            #expect(addOne.returnType == "integer")
            #expect(addOne.volatility == "immutable")
            #expect(addOne.language == "sql")
        }
    }

    @Test("every qualified name is unique and round-trips through its escaped form")
    func qualifiedNamesRoundTrip() async throws {
        try await Self.withFixture { database in
            let (sink, _) = try await Self.extract(database: database)
            var seen = Set<String>()
            for record in sink.records {
                let rendered = record.qualifiedName.description
                #expect(seen.insert(rendered).inserted, "duplicate qualified name \(rendered)")
                let parsed = try QualifiedName(parsing: rendered)
                #expect(parsed == record.qualifiedName)
                #expect(!rendered.unicodeScalars.contains { $0.value < 0x20 })
            }
        }
    }

    @Test("schema and table filters and field exclusions are applied before records are written")
    func filters() async throws {
        try await Self.withFixture { database in
            var filters = ExtractionFilters()
            filters.excludeSchemas = [try NamePattern("re:^(a/|схема)")]
            filters.excludeTables = [try NamePattern("events_*")]
            filters.excludeKinds = [.function]
            filters.excludeFields = [.comments, .definitions]
            let (sink, report) = try await Self.extractThroughPipeline(database: database, filters: filters)
            #expect(sink.records(of: .function).isEmpty)
            guard case .relation(let customers) = sink.record("pg/\(database)/public/customers"),
                case .relation(let view) = sink.record("pg/\(database)/public/customer_emails"),
                case .column(let email) = sink.record("pg/\(database)/public/customers/email"),
                case .constraint(let check) = sink.record("pg/\(database)/public/customers/~constraint/score_sane")
            else {
                Issue.record("records missing")
                return
            }
            #expect(customers.comment == nil)
            #expect(email.comment == nil)
            #expect(view.definition == nil)
            #expect(check.expression == nil)
            #expect(customers.rowEstimate == 50)
            #expect(!sink.records.contains { $0.qualifiedName.description.contains("/a%2Fb.c") })
            #expect(!sink.records.contains { $0.qualifiedName.parts.contains("схема") })
            #expect(sink.record("pg/\(database)/public/events_2024") == nil)
            #expect(sink.record("pg/\(database)/public/events_2024/id") == nil)
            #expect(sink.record("pg/\(database)/public/events") != nil)
            #expect(!report.completeness.contains { $0.schema == "схема" })
        }
    }

    @Test("without a database in the URL every connectable database is read, narrowed by database filters")
    func multipleDatabases() async throws {
        let server = try TestPostgres()
        let first = try server.createDatabase(prefix: "outpost_multi", loading: "CREATE TABLE one (id int);")
        defer { server.dropDatabase(first) }
        let second = try server.createDatabase(prefix: "outpost_multi", loading: "CREATE TABLE two (id int);")
        defer { server.dropDatabase(second) }
        let resolved = try SourceLocation.resolve(
            "postgres://\(server.user)@\(server.host):\(server.port)", password: server.password)
        var filters = ExtractionFilters()
        filters.includeDatabases = [try NamePattern("outpost_multi_*")]
        filters.excludeDatabases = [try NamePattern(second)]
        let sink = CollectingSink()
        let report = try await resolved.connector.extract(
            scope: ExtractionScope(connection: "pg", filters: filters), into: sink, logger: Logger(label: "test"))
        let databases = sink.records(of: .database).map(\.qualifiedName.description)
        #expect(databases.contains("pg/\(first)"))
        #expect(!databases.contains("pg/\(second)"))
        #expect(sink.record("pg/\(first)/public/one") != nil)
        #expect(report.completeness.contains { $0.database == first && $0.schema == nil && $0.complete })
        #expect(!report.completeness.contains { $0.database == second })
    }

    @Test("a schema the role may not use is reported incomplete while the rest is extracted")
    func schemaWithoutUsage() async throws {
        let server = try TestPostgres()
        try await Self.withFixture { database in
            let role = "limited_\(database.suffix(8))"
            try server.psql(
                """
                CREATE ROLE \(role) LOGIN PASSWORD 'limited-pass';
                GRANT CONNECT ON DATABASE \(database) TO \(role);
                GRANT USAGE ON SCHEMA "Sales Dept", "a/b.c", "схема" TO \(role);
                """, database: database)
            defer { _ = try? server.psql("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role);", database: database) }
            let (sink, report) = try await Self.extract(database: database, user: role, password: "limited-pass")
            let restricted = try #require(report.completeness.first { $0.schema == "restricted" })
            #expect(restricted.complete == false)
            #expect(restricted.reason?.contains("USAGE") == true)
            #expect(sink.record("pg/\(database)/restricted/payroll") == nil)
            #expect(sink.record("pg/\(database)/restricted") != nil)
            #expect(sink.record("pg/\(database)/public/customers") != nil)
            #expect(report.completeness.filter { !$0.complete }.count == 1)
        }
    }

    @Test("a catalog query that hits the statement timeout marks schemas incomplete and the rest still runs")
    func statementTimeout() async throws {
        let server = try TestPostgres()
        try await Self.withFixture { database in
            // Sizes need a lock on each table; another session holding an exclusive lock stalls that query.
            let holder = try server.startPsql(
                "BEGIN; LOCK TABLE public.customers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;",
                database: database)
            defer { holder.terminate() }
            try await Task.sleep(for: .seconds(1))
            let resolved = try SourceLocation.resolve(
                "postgres://\(server.user)@\(server.host):\(server.port)/\(database)?statement_timeout=1",
                password: server.password)
            let sink = CollectingSink()
            let report = try await resolved.connector.extract(
                scope: ExtractionScope(connection: "pg"), into: sink, logger: Logger(label: "test"))
            let incomplete = report.completeness.filter { !$0.complete }
            #expect(!incomplete.isEmpty)
            #expect(incomplete.allSatisfy { $0.reason?.contains("statement timeout") == true })
            // Sections that need no lock on the table (types, lineage, functions) still ran after the failures.
            #expect(sink.record("pg/\(database)/Sales Dept/~type/mood") != nil)
            #expect(sink.records(of: .lineageEdge).count == 4)
            #expect(sink.records(of: .function).count == 3)
        }
    }
}
