import Foundation
import Metadata

/// A small Tableau site as the Tableau connector writes one, with the hard cases: hostile names (`/`, `~`, quotes,
/// emoji, a `%`), a nested project, a workbook with a dashboard over two sheets, an embedded and a published data
/// source over the same PostgreSQL table, same-named sibling fields told apart by ` [id]`, calculated fields over
/// calculated fields, remote fields reading the published source, and custom SQL with and without parsed tables on
/// Snowflake.
enum BIFixture {
    static let connection = "bi"
    static let siteName = "Sales / EMEA ~ \"HQ\" 🚀"
    static let site = QualifiedName([connection, siteName])
    static let corporate = site.appending("Corporate")
    static let financeName = "Fin/ance ~\"Q1\" 📈"
    static let finance = corporate.appending(financeName)
    static let workbook = finance.appending(marker: .workbook, "Revenue \"2026\" / Q1 100%")
    static let byRegion = workbook.appending(marker: .sheet, "By region 🌍")
    static let trend = workbook.appending(marker: .sheet, "Trend ~ \"daily\"")
    static let overview = workbook.appending(marker: .dashboard, "Overview")
    static let published = finance.appending(marker: .dataSource, "Orders")
    static let embedded = workbook.appending(marker: .dataSource, "Orders")
    static let snowflakeSource = workbook.appending(marker: .dataSource, "Sales (Snowflake)")
    static let parsedSQL = snowflakeSource.appending(marker: .sql, "Custom SQL Query")
    static let unparsedSQL = snowflakeSource.appending(marker: .sql, "Custom SQL Query [c-2]")

    static let ordersTable = TableReference(
        connectionType: "postgres", host: "db.internal", port: 5432, database: "shop", schema: "public",
        table: "Orders")
    static let salesTable = TableReference(
        connectionType: "snowflake", host: "acme.snowflakecomputing.com", database: "ANALYTICS", schema: "PUBLIC",
        table: "SALES")

    static func column(_ table: TableReference, _ name: String) -> TableReference {
        var reference = table
        reference.column = name
        return reference
    }

    // Fields of the published data source.
    static let amount = published.appending("Amount")
    static let amountCents = published.appending("Amount [f-2]")
    static let region = published.appending("Region/Zone")
    static let profit = published.appending("Profit %")
    static let profitRatio = published.appending("Profit ratio \"x\" ~")
    // Fields of the embedded data source (remote fields read the published ones).
    static let embeddedAmount = embedded.appending("Amount")
    static let embeddedRegion = embedded.appending("Region/Zone")
    static let margin = embedded.appending("Margin 💰")
    // Field of the Snowflake data source.
    static let revenue = snowflakeSource.appending("REVENUE")

    static func field(
        _ name: QualifiedName, _ plainName: String, of source: QualifiedName, _ type: Field.FieldType,
        dataType: String, formula: String? = nil, comment: String? = nil, fields: [QualifiedName] = [],
        columns: [TableReference] = []
    ) -> MetadataRecord {
        .bi(
            .field(
                Field(
                    qualifiedName: name, name: plainName, site: site, project: finance, dataSource: source,
                    fieldType: type, sourceFieldType: type == .calculated ? "CalculatedField" : "ColumnField",
                    role: dataType == "STRING" ? "dimension" : "measure", dataType: dataType, hidden: false,
                    formula: formula, comment: comment, upstreamFields: fields.sorted(),
                    upstreamColumns: columns.sorted())))
    }

    /// The records in the order the connector writes them: site, projects, then per project its published data
    /// sources (with fields and custom SQL), workbooks, sheets, dashboards and embedded data sources.
    static func records() -> [MetadataRecord] {
        [
            .bi(
                .site(
                    Site(
                        qualifiedName: site, name: siteName, contentUrl: "sales-emea", luid: "site-1",
                        url: "https://tableau.example/#/site/sales-emea"))),
            .bi(
                .project(
                    Project(
                        qualifiedName: corporate, name: "Corporate", site: site, parentProject: nil, path: "Corporate",
                        luid: "p-1", owner: "ann", comment: "top level"))),
            .bi(
                .project(
                    Project(
                        qualifiedName: finance, name: financeName, site: site, parentProject: corporate,
                        path: "Corporate/" + financeName, luid: "p-2"))),
            .bi(
                .dataSource(
                    DataSource(
                        qualifiedName: published, name: "Orders", site: site, project: finance, workbook: nil,
                        published: true, luid: "ds-1", owner: "bob", certified: true, certifier: "carol",
                        certificationNote: "the numbers", hasExtracts: false, createdAt: "2026-01-02T03:04:05Z",
                        updatedAt: "2026-02-03T04:05:06.789Z", comment: "all orders", upstreamDataSources: [],
                        upstreamTables: [ordersTable]))),
            field(amount, "Amount", of: published, .column, dataType: "REAL", columns: [column(ordersTable, "amount")]),
            field(
                amountCents, "Amount", of: published, .column, dataType: "INTEGER",
                columns: [column(ordersTable, "amount_cents")]),
            field(
                region, "Region/Zone", of: published, .column, dataType: "STRING", comment: "sales region",
                columns: [column(ordersTable, "Region")]),
            field(
                profit, "Profit %", of: published, .calculated, dataType: "REAL", formula: "[Amount] * 0.1",
                fields: [amount]),
            field(
                profitRatio, "Profit ratio \"x\" ~", of: published, .calculated, dataType: "REAL",
                formula: "[Profit %] / [Amount]", fields: [profit, amount]),
            .bi(
                .workbook(
                    Workbook(
                        qualifiedName: workbook, name: "Revenue \"2026\" / Q1 100%", site: site, project: finance,
                        luid: "wb-1", owner: "ann", url: "https://tableau.example/#/site/sales-emea/workbooks/1",
                        createdAt: "2026-01-02T03:04:05Z", updatedAt: "2026-01-03T00:00:00Z", comment: "quarterly",
                        tags: ["finance", "q1"]))),
            .bi(
                .sheet(
                    Sheet(
                        qualifiedName: byRegion, name: "By region 🌍", site: site, project: finance, workbook: workbook,
                        luid: "v-1", url: "https://tableau.example/#/site/sales-emea/views/Revenue/ByRegion",
                        createdAt: "2026-01-02T03:04:05Z", updatedAt: "2026-01-04T00:00:00.5+02:00",
                        fields: [embeddedAmount, embeddedRegion, margin].sorted()))),
            .bi(
                .sheet(
                    Sheet(
                        qualifiedName: trend, name: "Trend ~ \"daily\"", site: site, project: finance,
                        workbook: workbook, luid: "v-2", fields: [embeddedAmount, revenue].sorted()))),
            .bi(
                .dashboard(
                    Dashboard(
                        qualifiedName: overview, name: "Overview", site: site, project: finance, workbook: workbook,
                        luid: "d-1", url: "https://tableau.example/#/site/sales-emea/views/Revenue/Overview",
                        createdAt: "2026-01-02T03:04:05Z", sheets: [byRegion, trend].sorted()))),
            .bi(
                .dataSource(
                    DataSource(
                        qualifiedName: embedded, name: "Orders", site: site, project: finance, workbook: workbook,
                        published: false, luid: nil, upstreamDataSources: [published], upstreamTables: [ordersTable]))),
            field(embeddedAmount, "Amount", of: embedded, .remote, dataType: "REAL", fields: [amount]),
            field(embeddedRegion, "Region/Zone", of: embedded, .remote, dataType: "STRING", fields: [region]),
            field(
                margin, "Margin 💰", of: embedded, .calculated, dataType: "REAL", formula: "SUM([Amount])",
                fields: [embeddedAmount]),
            .bi(
                .dataSource(
                    DataSource(
                        qualifiedName: snowflakeSource, name: "Sales (Snowflake)", site: site, project: finance,
                        workbook: workbook, published: false, luid: nil, upstreamDataSources: [],
                        upstreamTables: [salesTable]))),
            field(
                revenue, "REVENUE", of: snowflakeSource, .column, dataType: "REAL",
                columns: [column(salesTable, "REVENUE")]),
            .bi(
                .customSQL(
                    CustomSQL(
                        qualifiedName: parsedSQL, name: "Custom SQL Query", site: site, project: finance,
                        dataSource: snowflakeSource, query: "SELECT REVENUE FROM ANALYTICS.PUBLIC.SALES",
                        connectionType: "snowflake", parsed: true, upstreamTables: [salesTable]))),
            .bi(
                .customSQL(
                    CustomSQL(
                        qualifiedName: unparsedSQL, name: "Custom SQL Query", site: site, project: finance,
                        dataSource: snowflakeSource, query: "EXEC weird_proc 'x'", connectionType: "snowflake",
                        parsed: false, upstreamTables: []))),
        ]
    }

    /// The completeness entries the connector writes: one per project, named by the project.
    static let completeness = [
        Manifest.Completeness(database: siteName, schema: "Corporate", qualifiedName: corporate, complete: true),
        Manifest.Completeness(
            database: siteName, schema: "Corporate/" + financeName, qualifiedName: finance, complete: true),
    ]

    /// The same records with fields dealt round-robin across data sources, so no data source's fields are
    /// consecutive.
    static func interleavingFields(_ records: [MetadataRecord]) -> [MetadataRecord] {
        var queues: [[MetadataRecord]] = []
        var owners: [QualifiedName] = []
        for record in records {
            guard case .bi(.field(let field)) = record else { continue }
            if let index = owners.firstIndex(of: field.dataSource) {
                queues[index].append(record)
            } else {
                owners.append(field.dataSource)
                queues.append([record])
            }
        }
        var dealt: [MetadataRecord] = []
        while queues.contains(where: { !$0.isEmpty }) {
            for index in queues.indices where !queues[index].isEmpty {
                dealt.append(queues[index].removeFirst())
            }
        }
        return records.filter { $0.kind != .field } + dealt
    }

    /// Writes `records` as an extraction of a Tableau source with a manifest, as a connector run would.
    static func extraction(
        in path: String, records: [MetadataRecord], formatVersion: String? = nil, maxChunkBytes: Int = 2048
    ) throws -> ExtractionFolder {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let writer = ChunkedRecordWriter(directory: path, maxChunkBytes: maxChunkBytes)
        for record in records { try writer.write(record) }
        let chunks = try writer.finish()
        var manifest = Manifest(
            extractionId: "3f2c9a6e-8d41-4b7a-9c15-0e6f1d2b7a44", connection: connection,
            source: .init(kind: "tableau", serverVersion: "REST API 3.24", location: "tableau.example:443"),
            connector: .init(name: "outpost-tableau", version: "0"), startedAt: "2026-01-01T00:00:00.000Z",
            finishedAt: "2026-01-01T00:00:01.000Z", filters: .init(),
            files: chunks.map {
                .init(
                    path: $0.fileName, sha256: $0.sha256, bytes: $0.bytes, uncompressedBytes: $0.uncompressedBytes,
                    records: $0.records)
            },
            counts: Dictionary(uniqueKeysWithValues: writer.counts.map { ($0.key.rawValue, $0.value) }),
            completeness: completeness)
        if let formatVersion { manifest.formatVersion = formatVersion }
        let folder = ExtractionFolder(path: path)
        try folder.writeManifest(manifest)
        return folder
    }
}
