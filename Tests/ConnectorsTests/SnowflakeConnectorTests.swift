import Foundation
import Logging
import Metadata
import OutpostTesting
import SourceURLs
import Testing

@testable import Connectors

/// Extraction of the fake Snowflake account (`Tests/Fixtures/snowflake-catalog.json`) through the SQL API v2, checked
/// record by record; serialized because faults, slowness and limits are the shared fake's global state.
@Suite("Snowflake connector", .serialized)
struct SnowflakeConnectorTests {
    static let connection = "acct"

    /// Test pacing: pauses shortened to at most 20 ms so retries and polls take no real time.
    static var fastClient: SnowflakeClientConfiguration {
        var configuration = SnowflakeClientConfiguration()
        configuration.sleep = { try await Task.sleep(for: min($0, .milliseconds(20))) }
        return configuration
    }

    static func connector(
        _ fake: TestSnowflake, database: String? = nil, role: String = "OUTPOST_RO", parameters: String = "",
        credentials: SnowflakeCredentials? = .keyPair(privateKeyPEM: SnowflakeTestKeys.plainPKCS8, passphrase: nil)
    ) throws -> SnowflakeConnector {
        let source = try SnowflakeSource(
            url: "snowflake://outpost_svc@myorg-myacct" + (database.map { "/\($0)" } ?? "")
                + "?warehouse=OUTPOST_WH&role=\(role)&endpoint=\(fake.endpoint)\(parameters)")
        return SnowflakeConnector(
            source: source, credentials: credentials, queryTag: "outpost test", clientConfiguration: fastClient)
    }

    static func extract(
        _ connector: SnowflakeConnector, filters: ExtractionFilters = ExtractionFilters()
    ) async throws -> (CollectingSink, SourceReport) {
        let sink = CollectingSink()
        let pipeline = RecordPipeline(next: sink, filters: filters, progress: ExtractionProgress())
        let report = try await connector.extract(
            scope: ExtractionScope(connection: connection, filters: filters), into: pipeline,
            logger: Logger(label: "test"))
        return (sink, report)
    }

    /// The records as sorted JSON lines, for comparing whole extractions.
    static func lines(_ sink: CollectingSink) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try sink.records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.sorted()
    }

    static func name(_ parts: String...) -> String { QualifiedName([connection] + parts).description }

    @Test("every kind, table type, type family and hostile identifier is extracted as the catalog defines it")
    func everything() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let (sink, report) = try await Self.extract(try Self.connector(fake))
        #expect(report.source.kind == "snowflake")
        #expect(report.completeness.allSatisfy { $0.complete })
        // SHOW DATABASES lists what the role can use; FORBIDDEN is not among them and is not read.
        let databases = sink.records(of: .database).compactMap { record -> Database? in
            if case .database(let database) = record { return database }
            return nil
        }
        #expect(databases.map(\.name).sorted() == ["PARTLY", "SALES", "SHARED_DB"])
        let shared = try #require(databases.first { $0.name == "SHARED_DB" })
        #expect(shared.imported == true)
        #expect(shared.origin == "PARTNER.ACCT.SHARE_1")
        #expect(databases.first { $0.name == "SALES" }?.createdAt == "2024-01-02T03:04:05.000Z")

        // Schemas the role has no privilege on are invisible, as in Snowflake.
        #expect(sink.record(Self.name("PARTLY", "OPEN")) != nil)
        #expect(sink.record(Self.name("PARTLY", "CLOSED")) == nil)

        guard case .relation(let customers) = sink.record(Self.name("SALES", "PUBLIC", "CUSTOMERS")) else {
            Issue.record("CUSTOMERS missing")
            return
        }
        #expect(customers.kind == .table)
        #expect(customers.tableType == .base)
        #expect(customers.persistence == "permanent")
        #expect(customers.owner == "SALES_OWNER")
        #expect(customers.rowEstimate == 3)
        #expect(customers.sizeBytes == 1536)
        #expect(customers.clusteringKey == "LINEAR(ID)")
        #expect(customers.comment == "one row per customer")
        #expect(customers.createdAt == "2024-02-01T10:00:00.000Z")
        #expect(customers.lastAlteredAt == "2024-03-01T10:00:00.123Z")

        let tableTypes: [String: (Relation.TableType?, String?, String?, Bool?)] = [
            "STAGING_T": (.base, nil, "permanent", true), "SCRATCH": (.base, nil, "temporary", nil),
            "EXT_EVENTS": (.foreign, "external", "permanent", nil), "DYN_DAILY": (.base, "dynamic", "permanent", nil),
            "ICE_FACTS": (.base, "iceberg", "permanent", nil), "APP_EVENTS": (.base, "event", "permanent", nil),
            "HYB": (.base, "hybrid", "permanent", nil),
        ]
        for (table, expected) in tableTypes {
            guard case .relation(let relation) = sink.record(Self.name("SALES", "PUBLIC", table)) else {
                Issue.record("\(table) missing")
                continue
            }
            #expect(relation.tableType == expected.0, "\(table)")
            #expect(relation.sourceTableType == expected.1, "\(table)")
            #expect(relation.persistence == expected.2, "\(table)")
            #expect(relation.transient == expected.3, "\(table)")
        }
        #expect(customers.transient == nil && customers.sourceTableType == nil)
        guard case .relation(let view) = sink.record(Self.name("SALES", "PUBLIC", "ORDERS_V")),
            case .relation(let materialized) = sink.record(Self.name("SALES", "PUBLIC", "TOTALS_MV"))
        else {
            Issue.record("views missing")
            return
        }
        #expect(view.kind == .view)
        #expect(view.definition?.contains("join CUSTOMERS c") == true)
        #expect(view.comment == "orders with e-mail")
        #expect(materialized.kind == .materializedView)
        #expect(materialized.definition?.contains("sum(AMOUNT)") == true)

        let families: [String: (String, Column.TypeFamily)] = [
            "ID": ("NUMBER(38,0)", .integer), "EMAIL": ("VARCHAR(320)", .string), "BALANCE": ("NUMBER(12,2)", .decimal),
            "SCORE": ("FLOAT", .float), "AVATAR": ("BINARY(64)", .binary), "ACTIVE": ("BOOLEAN", .boolean),
            "BORN": ("DATE", .date), "WAKES_AT": ("TIME(9)", .time), "CREATED_NTZ": ("TIMESTAMP_NTZ(9)", .timestamp),
            "CREATED_LTZ": ("TIMESTAMP_LTZ(9)", .timestamp), "CREATED_TZ": ("TIMESTAMP_TZ(3)", .timestamp),
            "PROFILE": ("VARIANT", .json), "PREFS": ("OBJECT", .json), "LABELS": ("ARRAY", .array),
            "HOME": ("GEOGRAPHY", .geometric), "SHAPE": ("GEOMETRY", .geometric),
        ]
        for (column, expected) in families {
            guard case .column(let record) = sink.record(Self.name("SALES", "PUBLIC", "CUSTOMERS", column)) else {
                Issue.record("column \(column) missing")
                continue
            }
            #expect(record.nativeType == expected.0, "\(column)")
            #expect(record.typeFamily == expected.1, "\(column)")
        }
        guard case .column(let id) = sink.record(Self.name("SALES", "PUBLIC", "CUSTOMERS", "ID")),
            case .column(let balance) = sink.record(Self.name("SALES", "PUBLIC", "CUSTOMERS", "BALANCE"))
        else {
            Issue.record("columns missing")
            return
        }
        #expect(id.ordinal == 1 && !id.nullable && id.identity == "byDefault" && id.comment == "surrogate key")
        #expect(balance.ordinal == 3 && balance.nullable && balance.defaultExpression == "0")

        // Hostile identifiers: case twins, quotes, backslashes, emoji, dots and slashes, 255 characters.
        for parts in [
            ["SALES", "sales", "a"], ["SALES", "sales", "A"], ["SALES", "sales", "a", "v"],
            ["SALES", "sales", "a", "V"],
            ["SALES", "sales", "order lines", "line no"], ["SALES", "we ird.schema/1", #"it's "quoted" \ back"#],
            ["SALES", "we ird.schema/1", #"it's "quoted" \ back"#, #"col "q""#],
            ["SALES", "we ird.schema/1", "🎉 party", "🎈"],
            ["SALES", "we ird.schema/1", String(repeating: "L", count: 255), String(repeating: "C", count: 255)],
            ["SALES", "we ird.schema/1", "dots.in.name"],
        ] {
            #expect(sink.record(QualifiedName([Self.connection] + parts).description) != nil, "\(parts)")
        }

        // Keys with their column pairs, from SHOW … KEYS.
        guard
            case .constraint(let primary) = sink.record(
                QualifiedName([Self.connection, "SALES", "PUBLIC", "ORDERS"]).appending(
                    marker: .constraint, "PK_ORDERS"
                )
                .description),
            case .constraint(let foreign) = sink.record(
                QualifiedName([Self.connection, "SALES", "PUBLIC", "ORDERS"]).appending(
                    marker: .constraint, "FK_ORDERS_CUSTOMER"
                ).description),
            case .constraint(let unique) = sink.record(
                QualifiedName([Self.connection, "SALES", "PUBLIC", "CUSTOMERS"]).appending(
                    marker: .constraint, "UQ_CUSTOMERS_EMAIL"
                ).description)
        else {
            Issue.record("keys missing: \(sink.records(of: .primaryKey).map(\.qualifiedName))")
            return
        }
        #expect(primary.kind == .primaryKey && primary.columns == ["ORDER_ID", "LINE"])
        #expect(foreign.kind == .foreignKey && foreign.columns == ["CUSTOMER_ID"])
        #expect(foreign.referencedTable?.description == Self.name("SALES", "PUBLIC", "CUSTOMERS"))
        #expect(foreign.referencedColumns == ["ID"])
        #expect(unique.kind == .uniqueConstraint && unique.columns == ["EMAIL"])
        #expect(sink.records(of: .primaryKey).count == 4)

        // Lineage from the view definitions, resolved to relations read.
        let edges = sink.records(of: .lineageEdge).compactMap { record -> LineageEdge? in
            if case .lineageEdge(let edge) = record { return edge }
            return nil
        }
        #expect(
            Set(edges.map { "\($0.downstream.parts.last ?? "")→\($0.upstream.parts.last ?? ""):\($0.upstreamKind)" })
                == [
                    "ORDERS_V→ORDERS:table", "ORDERS_V→CUSTOMERS:table", "TOTALS_MV→ORDERS:table",
                    "dots.in.name→🎉 party:table",
                ])

        let functions = sink.records(of: .function).map(\.qualifiedName.description)
        #expect(functions.count == 2)

        // This role cannot read ACCOUNT_USAGE: no tags or policies, and the first database's relations and columns
        // statements ran once more without them; later databases left them out from the start.
        #expect(sink.records.allSatisfy { if case .relation(let r) = $0 { r.tags == nil } else { true } })
        // A fixed number of statements per database: SHOW DATABASES, then 5 on the warehouse and 4 SHOW per database.
        let usage = try #require(report.source.usage)
        let seen = try fake.statements().map { "\(($0["statement"] as? String ?? "").prefix(70))" }
        #expect(usage.statements == 1 + 3 * 9 + 2, "\(seen)")
        #expect(usage.warehouseStatements == 3 * 5)
        #expect(usage.warehouseSeconds > 0)
        let statements = try fake.statements()
        #expect(statements.count == usage.statements)
        #expect(statements.allSatisfy { ($0["queryTag"] as? String) == "outpost test" && ($0["runs"] as? Int) == 1 })
        #expect(statements.contains { ($0["partitions"] as? Int ?? 0) > 1 })
        // Each database's four warehouse statements after SCHEMATA were submitted ahead, to run while others are read,
        // and its three SHOW … KEYS once its columns were ready; none ran twice (runs == 1 above).
        #expect(statements.filter { ($0["async"] as? Bool) == true }.count == 3 * (4 + 3))
    }

    @Test("a database the role cannot use is incomplete with Snowflake's reason, the rest is read")
    func unusableDatabase() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(includeDatabases: ["FORBIDDEN", "SHARED_DB"])
        let (sink, report) = try await Self.extract(try Self.connector(fake), filters: filters)
        let forbidden = try #require(report.completeness.first { $0.database == "FORBIDDEN" && $0.schema == nil })
        #expect(!forbidden.complete)
        #expect(forbidden.reason?.contains("does not exist or not authorized") == true, "\(forbidden.reason ?? "")")
        #expect(report.completeness.filter { $0.database == "SHARED_DB" }.allSatisfy { $0.complete })
        #expect(sink.record(Self.name("FORBIDDEN")) == nil)
        #expect(sink.record(Self.name("SHARED_DB", "PUBLIC", "FEED")) != nil)
        // Only the database filter's names were read: no statement mentions SALES or PARTLY.
        let texts = try fake.statements().compactMap { $0["statement"] as? String }
        #expect(!texts.contains { $0.contains("SALES") || $0.contains("PARTLY") })
    }

    @Test("schema filters go into the statements; excluded kinds and fields are not asked for")
    func pushdown() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(
            includeDatabases: ["SALES"], includeSchemas: ["sales", "we ird.schema/1"], excludeTables: ["A"],
            excludeKinds: ["function", "lineageEdge"], excludeFields: ["definitions"])
        let (sink, report) = try await Self.extract(try Self.connector(fake), filters: filters)
        #expect(report.completeness.allSatisfy { $0.complete })
        #expect(sink.records(of: .schema).count == 2)
        #expect(sink.record(Self.name("SALES", "sales", "a")) != nil)
        #expect(sink.record(Self.name("SALES", "sales", "A")) == nil)
        #expect(sink.records(of: .function).isEmpty && sink.records(of: .lineageEdge).isEmpty)
        #expect(sink.records.allSatisfy { if case .relation(let r) = $0 { r.definition == nil } else { true } })
        let texts = try fake.statements().compactMap { $0["statement"] as? String }
        let catalog = texts.filter {
            $0.contains("INFORMATION_SCHEMA.TABLES") || $0.contains("INFORMATION_SCHEMA.COLUMNS")
        }
        // Each tried first with tags and policies, which this role cannot read, then without.
        #expect(catalog.count == 4)
        #expect(catalog.filter { $0.contains("TAG_REFERENCES") }.count == 2)
        #expect(catalog.allSatisfy { $0.contains(#"IN ('sales', 'we ird.schema/1')"#) })
        #expect(
            !texts.contains { $0.contains("FUNCTIONS") || $0.contains("PROCEDURES") || $0.contains("VIEW_DEFINITION") })
    }

    @Test("202s, rate limits, 5xx, dropped connections and lost answers mid-run leave the extraction exact")
    func faults() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(includeDatabases: ["SALES"])
        let (baseline, _) = try await Self.extract(try Self.connector(fake), filters: filters)
        try fake.reset()
        try fake.control("/fake/config", post: #"{"sync_wait_ms": 50}"#)
        try fake.control(
            "/fake/slow", post: #"{"slow_ms": 0, "rules": [{"pattern": "INFORMATION_SCHEMA.COLUMNS", "ms": 300}]}"#)
        try fake.control(
            "/fake/faults",
            post: #"""
                {"faults": ["statement:nth=2:503", "statement:nth=3:lost", "statement:nth=5:429", "partition:nth=2:drop",
                            "partition:nth=5:lost", "partition:nth=7:500", "poll:nth=1:504", "statement:nth=8:drop"]}
                """#)
        let (faulted, report) = try await Self.extract(try Self.connector(fake), filters: filters)
        #expect(try Self.lines(faulted) == Self.lines(baseline))
        #expect(report.completeness.allSatisfy { $0.complete })
        let statements = try fake.statements()
        // requestId with retry=true: a statement whose answer was lost ran once.
        #expect(statements.allSatisfy { ($0["runs"] as? Int) ?? 0 <= 1 })
        #expect(statements.contains { ($0["submissions"] as? Int ?? 0) > 1 })
        let stats = try fake.control("/fake/stats") as? [String: Any]
        let faultStats = stats?["faults"] as? [String: Any]
        #expect(((faultStats?["injected"] as? [Any])?.count ?? 0) >= 6)
        // The slow COLUMNS statement answered 202 and was polled.
        #expect(((faultStats?["counts"] as? [String: Any])?["poll"] as? Int ?? 0) > 1)
    }

    @Test("'information schema query returned too much data' narrows that database to one statement per schema")
    func tooMuchData() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(includeDatabases: ["SALES"])
        let (baseline, _) = try await Self.extract(try Self.connector(fake), filters: filters)
        try fake.reset()
        try fake.control("/fake/config", post: #"{"info_schema_max_rows": 12}"#)
        let (narrowed, report) = try await Self.extract(try Self.connector(fake), filters: filters)
        #expect(report.completeness.allSatisfy { $0.complete })
        #expect(try Self.lines(narrowed) == Self.lines(baseline))
        let failed = try fake.statements().filter { ($0["code"] as? String) == "090030" }
        #expect(!failed.isEmpty)
        let perSchema = try fake.statements().compactMap { $0["statement"] as? String }.filter {
            $0.contains("INFORMATION_SCHEMA.COLUMNS") && $0.contains("TABLE_SCHEMA IN ('PUBLIC')")
        }
        #expect(perSchema.count == 1)
    }

    @Test("a statement over its timeout marks its section incomplete with Snowflake's 408 reason")
    func statementTimeout() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        try fake.control(
            "/fake/slow", post: #"{"slow_ms": 0, "rules": [{"pattern": "INFORMATION_SCHEMA.COLUMNS", "ms": 3000}]}"#)
        let filters = try ExtractionFilters(includeDatabases: ["SHARED_DB"])
        let (sink, report) = try await Self.extract(
            try Self.connector(fake, parameters: "&statement_timeout=1"), filters: filters)
        let schema = try #require(report.completeness.first { $0.schema == "PUBLIC" })
        #expect(!schema.complete)
        #expect(schema.reason?.contains("000630") == true, "\(schema.reason ?? "")")
        #expect(sink.record(Self.name("SHARED_DB", "PUBLIC", "FEED")) != nil)
        #expect(sink.records(of: .column).isEmpty)
    }

    @Test("cancelling the extraction cancels the running statement on Snowflake")
    func cancellation() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        try fake.control("/fake/config", post: #"{"sync_wait_ms": 50}"#)
        try fake.control(
            "/fake/slow", post: #"{"slow_ms": 0, "rules": [{"pattern": "INFORMATION_SCHEMA.COLUMNS", "ms": 20000}]}"#)
        let connector = try Self.connector(fake)
        let filters = try ExtractionFilters(includeDatabases: ["SHARED_DB"])
        let task = Task { _ = try await Self.extract(connector, filters: filters) }
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if try fake.statements().contains(where: { ($0["statement"] as? String)?.contains("COLUMNS") == true }) {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // The fake marks the statement once its worker sees the cancel.
        var columns: [String: Any] = [:]
        for _ in 0..<40 {
            columns = try #require(
                try fake.statements().first { ($0["statement"] as? String)?.contains("COLUMNS") == true })
            if (columns["status"] as? String) != "running" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect((columns["status"] as? String)?.contains("cancel") == true, "\(columns["status"] ?? "")")
    }

    @Test("OAuth and programmatic access tokens authenticate; a wrong key or token fails without showing it")
    func authentication() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(includeDatabases: ["SHARED_DB"], excludeKinds: ["column"])
        let (sink, _) = try await Self.extract(
            try Self.connector(
                fake, parameters: "&authenticator=oauth", credentials: .token("canary-oauth-token-5f1c9e")),
            filters: filters)
        #expect(sink.record(Self.name("SHARED_DB", "PUBLIC", "FEED")) != nil)
        _ = try await Self.extract(
            try Self.connector(
                fake, parameters: "&authenticator=programmatic_access_token", credentials: .token("canary-pat-77aa0d")),
            filters: filters)
        #expect(try fake.statements().map { $0["tokenType"] as? String }.contains("PROGRAMMATIC_ACCESS_TOKEN"))
        let wrong = await #expect(throws: ConnectorError.self) {
            _ = try await Self.extract(
                try Self.connector(fake, parameters: "&authenticator=oauth", credentials: .token("canary-wrong-31d4")),
                filters: filters)
        }
        #expect(wrong?.code == .authenticationFailed)
        #expect(wrong.map { "\($0)" }?.contains("canary") == false)
        let otherKey = await #expect(throws: ConnectorError.self) {
            _ = try await Self.extract(
                try Self.connector(
                    fake, credentials: .keyPair(privateKeyPEM: SnowflakeTestKeys.otherKey, passphrase: nil)),
                filters: filters)
        }
        #expect(otherKey?.code == .authenticationFailed)
        #expect(otherKey?.message.contains("390144") == true, "\(otherKey?.message ?? "")")
    }

    @Test("mode=account_usage reads the same objects with a fixed number of statements for the whole account")
    func accountUsage() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let filters = try ExtractionFilters(includeDatabases: ["SALES", "SHARED_DB"])
        // A role that can read ACCOUNT_USAGE: information_schema mode joins tags and policies into its statements.
        let (schemaMode, schemaReport) = try await Self.extract(
            try Self.connector(fake, role: "OUTPOST_AU"), filters: filters)
        #expect(try #require(schemaReport.source.usage).statements == 1 + 2 * 9)
        #expect(
            try fake.statements().compactMap { $0["statement"] as? String }.filter {
                $0.contains("TAG_REFERENCES")
            }.count == 2 * 2)
        try fake.reset()
        let (usageMode, report) = try await Self.extract(
            try Self.connector(fake, role: "OUTPOST_AU", parameters: "&mode=account_usage"), filters: filters)
        #expect(report.completeness.allSatisfy { $0.complete })
        // Everything but databases (ACCOUNT_USAGE has no share origin) and lineage (OBJECT_DEPENDENCIES knows the
        // materialized view's too) is the same as INFORMATION_SCHEMA's, tags and policies included.
        func comparable(_ sink: CollectingSink) throws -> [String] {
            let kept = CollectingSink()
            for record in sink.records where record.kind != .database && record.kind != .lineageEdge {
                try kept.write(record)
            }
            return try Self.lines(kept)
        }
        for mode in [usageMode, schemaMode] {
            guard case .relation(let customers) = mode.record(Self.name("SALES", "PUBLIC", "CUSTOMERS")),
                case .column(let email) = mode.record(Self.name("SALES", "PUBLIC", "CUSTOMERS", "EMAIL"))
            else {
                Issue.record("CUSTOMERS or its EMAIL missing")
                return
            }
            #expect(
                customers.tags == [
                    Tag(database: "GOV", schema: "TAGS", name: "DOMAIN", value: "sales"),
                    Tag(database: "GOV", schema: "TAGS", name: "PII", value: "contains"),
                ])
            #expect(
                customers.policies == [
                    PolicyReference(database: "GOV", schema: "POLICIES", name: "BY_REGION", kind: "ROW_ACCESS_POLICY")
                ])
            #expect(email.tags == [Tag(database: "GOV", schema: "TAGS", name: "PII", value: "email")])
            #expect(
                email.policies == [
                    PolicyReference(database: "GOV", schema: "POLICIES", name: "MASK_EMAIL", kind: "MASKING_POLICY")
                ])
        }
        #expect(try comparable(usageMode) == comparable(schemaMode))
        let edges = usageMode.records(of: .lineageEdge).map {
            $0.qualifiedName.parts.dropFirst(4).joined(separator: "|")
        }
        #expect(edges.count == 4, "\(edges)")
        #expect(
            usageMode.records(of: .lineageEdge).contains {
                if case .lineageEdge(let edge) = $0 {
                    edge.downstream.description == Self.name("SALES", "PUBLIC", "TOTALS_MV")
                        && edge.downstreamKind == .materializedView && edge.upstreamKind == .table
                } else {
                    false
                }
            })
        let usage = try #require(report.source.usage)
        #expect(usage.statements == 11)
        #expect(usage.warehouseStatements == 7)
        let statements = try fake.statements()
        let texts = statements.compactMap { $0["statement"] as? String }
        #expect(
            texts.filter { $0.contains("ACCOUNT_USAGE") }.allSatisfy {
                $0.contains("DELETED IS NULL") || $0.contains("OBJECT_DEPENDENCIES")
            })
        // TABLES and COLUMNS were submitted ahead once the schemas were known, the six statements after them once
        // COLUMNS was ready; each ran once.
        #expect(statements.filter { ($0["async"] as? Bool) == true }.count == 8)
        #expect(statements.allSatisfy { ($0["runs"] as? Int) == 1 })
    }

    @Test("mode=account_usage without the imported privilege fails saying what to grant")
    func accountUsageWithoutPrivilege() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let error = await #expect(throws: ConnectorError.self) {
            _ = try await Self.extract(try Self.connector(fake, parameters: "&mode=account_usage"))
        }
        #expect(error?.code == .permissionDenied)
        #expect(error?.message.contains("GRANT DATABASE ROLE SNOWFLAKE.OBJECT_VIEWER TO ROLE OUTPOST_RO") == true)
        #expect(error?.message.contains("mode=information_schema") == true)
    }
}
