import Foundation
import Logging
import Metadata
import OutpostTesting
import SourceURLs
import Testing

@testable import Connectors

/// Extraction of the fake Tableau site (`Tests/tools/fake_tableau/sites/hostile.json`) through REST and the Metadata
/// API, at page sizes small enough that every list and query has several pages; each test starts its own fake.
@Suite("Tableau connector")
struct TableauConnectorTests {
    static let connection = "bi"
    static let site = "Outpost \"hostile\" site"

    /// Test pacing: pauses shortened to at most 20 ms so retries take no real time.
    static var fastClient: TableauClientConfiguration {
        var configuration = TableauClientConfiguration()
        configuration.sleep = { try await Task.sleep(for: min($0, .milliseconds(20))) }
        return configuration
    }

    static func connector(
        _ fake: TestTableau, secret: String = TestTableau.patSecret, parameters: String = "&page_size=2"
    ) throws -> TableauConnector {
        TableauConnector(
            source: try TableauSource(url: fake.sourceURL(parameters: parameters)),
            credentials: TableauCredentials(patName: TestTableau.patName, patSecret: secret),
            clientConfiguration: fastClient)
    }

    static func extract(
        _ connector: TableauConnector, filters: ExtractionFilters = ExtractionFilters()
    ) async throws -> (CollectingSink, SourceReport) {
        let sink = CollectingSink()
        let pipeline = RecordPipeline(next: sink, filters: filters, progress: ExtractionProgress())
        let report = try await connector.extract(
            scope: ExtractionScope(connection: connection, filters: filters), into: pipeline,
            logger: Logger(label: "test"))
        return (sink, report)
    }

    static func name(_ parts: String...) -> QualifiedName { QualifiedName([connection, site] + parts) }

    static func bi(_ sink: CollectingSink) -> [QualifiedName: BIRecord] {
        var records: [QualifiedName: BIRecord] = [:]
        for case .bi(let record) in sink.records { records[record.qualifiedName] = record }
        return records
    }

    static func lines(_ sink: CollectingSink) throws -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try sink.records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.sorted()
    }

    @Test("a hostile site: nested projects, lineage from dashboards to warehouse columns, names told apart")
    func hostileSite() async throws {
        let fake = try TestTableau(options: ["--max-page-size", "3"])
        defer { fake.stop() }
        let (sink, report) = try await Self.extract(try Self.connector(fake))
        let records = Self.bi(sink)
        #expect(sink.records.count == records.count, "every qualified name is distinct")

        // Projects nest by path, with names holding '/', quotes, backslashes, emoji and padding.
        let finance = Self.name("Finance / \"FY24\"")
        let archive = finance.appending("Reports").appending("Q1.v2 \\ archive")
        guard case .project(let project)? = records[archive] else {
            Issue.record("no project \(archive)")
            return
        }
        #expect(project.parentProject == finance.appending("Reports"))
        #expect(project.path == "Finance / \"FY24\"/Reports/Q1.v2 \\ archive")
        #expect(records[Self.name("  padded name  ")] != nil)

        // The same workbook name in two projects stays two workbooks; two embedded data sources with one name in a
        // workbook are told apart by id.
        let salesWorkbook = Self.name("Sales").appending(marker: .workbook, "Sales \"Overview\" / 2024")
        let financeWorkbook = finance.appending("Reports").appending(marker: .workbook, "Sales \"Overview\" / 2024")
        #expect(records[salesWorkbook] != nil && records[financeWorkbook] != nil)
        let data = records.keys.filter {
            $0.parts.dropLast() == financeWorkbook.appending(marker: .dataSource, "x").parts.dropLast()
                && $0.parts.last?.hasPrefix("Data [") == true
        }
        #expect(data.count == 2)

        // Dashboard → sheets → fields → (calculated over calculated) → published field → warehouse column.
        guard case .dashboard(let overview)? = records[salesWorkbook.appending(marker: .dashboard, "Overview")] else {
            Issue.record("no dashboard Overview")
            return
        }
        #expect(!overview.sheets.isEmpty && overview.sheets.allSatisfy { records[$0] != nil })
        let sheetFields = overview.sheets.compactMap { sheet -> [QualifiedName]? in
            if case .sheet(let record)? = records[sheet] { return record.fields }
            return nil
        }.flatMap { $0 }
        #expect(!sheetFields.isEmpty && sheetFields.allSatisfy { records[$0] != nil })
        let published = Self.name("Sales").appending(marker: .dataSource, "Orders (certified)")
        guard case .dataSource(let certified)? = records[published] else {
            Issue.record("no published data source")
            return
        }
        #expect(certified.published && certified.certified == true && certified.workbook == nil)
        let embedded = salesWorkbook.appending(marker: .dataSource, "Orders (certified)")
        guard case .dataSource(let embeddedSource)? = records[embedded] else {
            Issue.record("no embedded data source")
            return
        }
        #expect(!embeddedSource.published && embeddedSource.upstreamDataSources.contains(published))
        let orders = TableReference(
            connectionType: "postgres", host: "pg.internal.example", port: 5432, database: "analytics",
            schema: "public", table: "orders")
        #expect(certified.upstreamTables == [orders])
        guard case .field(let netX2)? = records[published.appending("Net x2")] else {
            Issue.record("no calculated field Net x2")
            return
        }
        #expect(netX2.fieldType == .calculated && netX2.formula?.contains("[Net \"Amount\"]") == true)
        #expect(netX2.upstreamFields == [published.appending("Net \"Amount\"")])
        var amount = orders
        amount.column = "amount"
        #expect(netX2.upstreamColumns == [amount])
        guard case .field(let remote)? = records[embedded.appending("Net x2")] else {
            Issue.record("no remote field")
            return
        }
        #expect(remote.fieldType == .remote && remote.upstreamFields == [published.appending("Net x2")])

        // Custom SQL: its text, and whether Tableau could parse it.
        let customSQL = records.values.compactMap { record -> CustomSQL? in
            if case .customSQL(let value) = record { return value }
            return nil
        }
        #expect(customSQL.contains { !$0.parsed && $0.upstreamTables.isEmpty && $0.query?.contains("EXEC") == true })
        #expect(customSQL.contains { $0.parsed && !$0.upstreamTables.isEmpty })

        // The project the token cannot read is incomplete, the others complete; the session was signed out.
        let incomplete = report.completeness.filter { !$0.complete }
        #expect(incomplete.map(\.schema) == ["Restricted"])
        #expect(report.completeness.count == 11, "the site's entry and one per project")
        #expect(report.completeness.first?.schema == nil && report.completeness.first?.complete == true)
        let stats = try fake.stats()
        #expect(stats["signOuts"] as? Int == 1 && stats["activeSessions"] as? Int == 0)
        let byRoot = stats["graphqlByRootField"] as? [String: Int] ?? [:]
        #expect((byRoot["fieldsConnection"] ?? 0) > 5, "fields are read by id, a page at a time")
    }

    @Test("a 401 mid-run, the node limit, 503s and an error beside data: the same records, one project incomplete")
    func faults() async throws {
        let clean = try TestTableau(options: ["--max-page-size", "3"])
        let (expected, _) = try await Self.extract(try Self.connector(clean))
        clean.stop()

        let fake = try TestTableau(options: [
            "--max-page-size", "3", "--fault", "expire-session-after=10", "--fault", "node-limit@5", "--fault",
            "503@8x2;retry-after=0", "--fault", "partial-error@20",
        ])
        defer { fake.stop() }
        let (sink, report) = try await Self.extract(try Self.connector(fake))
        #expect(try Self.lines(sink) == (try Self.lines(expected)))
        #expect(report.completeness.filter { !$0.complete }.count == 2, "Restricted, and the project of the error")
        let stats = try fake.stats()
        #expect((stats["signIns"] as? Int ?? 0) > 1, "signed in again after the session expired")
        #expect(stats["nodeLimitExceeded"] as? Int == 1)
        #expect(stats["activeSessions"] as? Int == 0)
    }

    @Test("a wrong token secret fails with a clear error that never shows the secret")
    func wrongSecret() async throws {
        let fake = try TestTableau()
        defer { fake.stop() }
        let canary = "canary-\(UUID().uuidString)"
        await #expect {
            _ = try await Self.extract(try Self.connector(fake, secret: canary))
        } throws: { error in
            guard let error = error as? ConnectorError else { return false }
            return error.code == .authenticationFailed && error.message.contains(TestTableau.patName)
                && !error.message.contains(canary) && !"\(error)".contains(canary)
        }
        let unauthenticated = TableauConnector(
            source: try TableauSource(url: fake.sourceURL()), credentials: nil, clientConfiguration: Self.fastClient)
        await #expect(throws: ConnectorError.self) { _ = try await Self.extract(unauthenticated) }
    }

    @Test("project filters match paths and take nested projects along; definitions can be left out")
    func filters() async throws {
        let fake = try TestTableau()
        defer { fake.stop() }
        let filters = try ExtractionFilters(
            includeSchemas: ["Finance*", "Sales"], excludeSchemas: ["*/Reports"], excludeFields: ["definitions"])
        let (sink, report) = try await Self.extract(try Self.connector(fake, parameters: ""), filters: filters)
        #expect(
            Set(report.completeness.map(\.schema)) == [nil, "Finance / \"FY24\"", "Sales", "Sales/It's \"quoted\""])
        for record in Self.bi(sink).values {
            if let project = record.project {
                #expect(!project.parts.contains("Reports"), "Reports and what it holds are excluded")
            }
            if case .field(let field) = record { #expect(field.formula == nil) }
            if case .customSQL(let sql) = record { #expect(sql.query == nil) }
        }
    }

    @Test("tableau:// URLs: site, endpoint, parameters, and credentials refused in the URL")
    func sourceURLs() throws {
        let source = try TableauSource(url: "tableau://Tableau.Example.com:8443/sales-eu?api_version=3.22&page_size=5")
        #expect(source.host == "tableau.example.com" && source.port == 8443 && source.site == "sales-eu")
        #expect(source.endpoint.baseURL == "https://tableau.example.com:8443" && source.apiVersion == "3.22")
        #expect(source.siteURL == "https://tableau.example.com:8443/#/site/sales-eu" && source.pageSize == 5)
        let defaultSite = try TableauSource(url: "tableau://online.tableau.example?endpoint=http://127.0.0.1:9")
        #expect(defaultSite.site == "" && defaultSite.endpoint.baseURL == "http://127.0.0.1:9")
        for bad in [
            "tableau://user:pw@host/site", "tableau://host/a/b", "tableau://host/site?patSecret=x",
            "tableau://host/site?endpoint=http://10.0.0.1", "tableau://host/site?page_size=0",
            "tableau://host/site?api_version=three", "tableau://host/site?bogus=1",
        ] {
            #expect(throws: ConnectorError.self, "\(bad)") { _ = try TableauSource(url: bad) }
        }
    }
}
