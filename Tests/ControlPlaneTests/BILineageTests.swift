// Lineage from Tableau dashboards down to the warehouse tables of other connections, through ingestion, the admin
// API and the UI, on both stores: resolution follows whichever side was published last.

import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("BI lineage across connections")
struct BILineageTests {
    typealias S = BISite

    @Test(
        "a dashboard's lineage reaches the warehouse table of another connection, and the table's reaches the dashboard, whichever side is published again",
        arguments: StorageBackend.allCases)
    func lineageAcrossConnections(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend, setup: .router) { harness, client in
            let tenant = harness.tenantA
            let store = harness.store
            let warehouse = try await S.connection(
                store, tenant, name: "warehouse", kind: "postgresql", url: "postgres://reader@db.internal/shop")
            let bi = try await S.connection(
                store, tenant, name: "bi", kind: "tableau", url: "tableau://tableau.example.com/acme")
            let site = S(connection: bi.name)

            try await S.ingest(store, harness, warehouse, S.warehouse(warehouse.name, tables: [S.hostileTable]), at: 1)
            try await S.ingest(store, harness, bi, site.records(), completeness: [site.completeness()], at: 2)

            let tableName = S.tableName(warehouse.name, S.hostileTable)
            // The table's page and API list everything above it, up to the dashboard, across the two connections.
            func expectUsedByDashboard(_ context: Comment) async throws {
                let used = try await client.lineage(
                    tenant, connectionId: warehouse.id, kind: "table", qualifiedName: tableName)
                #expect(used.above.contains { $0.kind == "dashboard" && $0.name == S.dashboardName }, context)
                #expect(
                    Set(used.above.map(\.kind)) == ["dataSource", "field", "sheet", "dashboard"],
                    "\(context): \(used.above.map(\.qualifiedName))")
                #expect(used.above.allSatisfy { $0.connectionId == bi.id }, context)
            }
            // The dashboard's lists its sheets, fields and data sources, and the table below them resolved.
            func expectDashboardReachesTable(_ context: Comment) async throws -> CatalogLineageResponse {
                let below = try await client.lineage(
                    tenant, connectionId: bi.id, kind: "dashboard", qualifiedName: site.dashboard.description)
                #expect(
                    Set(below.below.map(\.qualifiedName))
                        == Set(
                            [site.sheet, site.embeddedField, site.publishedField, site.embedded, site.published].map(
                                \.description)), context)
                let resolved = try #require(below.tables.first { $0.table == S.hostileTable }, context)
                #expect(resolved.resolved, context)
                #expect(resolved.assets.map(\.qualifiedName) == [tableName], context)
                #expect(resolved.assets.map(\.connectionId) == [warehouse.id], context)
                let ghost = try #require(below.tables.first { $0.table == "ghost" }, context)
                #expect(!ghost.resolved && ghost.assets.isEmpty && ghost.reason != nil, context)
                #expect(ghost.host == "other.internal" && ghost.database == "shop" && ghost.schema == "public", context)
                return below
            }
            try await expectUsedByDashboard("after both were ingested")
            _ = try await expectDashboardReachesTable("after both were ingested")

            // The pages show the same, escaped.
            let session = try await client.signIn(key: tenant.admin)
            let tablePage = try await client.page(
                HTML.link(
                    "/ui/catalog/asset",
                    ["connectionId": warehouse.id, "kind": "table", "qualifiedName": tableName]),
                session: session)
            #expect(tablePage.status == .ok)
            #expect(tablePage.text.contains("Used by"))
            #expect(tablePage.text.contains(HTML.escape(S.dashboardName)))
            #expect(!tablePage.text.contains(S.dashboardName), "the dashboard's name is escaped")
            let dashboardPage = try await client.page(
                HTML.link(
                    "/ui/catalog/asset",
                    ["connectionId": bi.id, "kind": "dashboard", "qualifiedName": site.dashboard.description]),
                session: session)
            #expect(dashboardPage.status == .ok)
            #expect(dashboardPage.text.contains("Warehouse tables"))
            #expect(
                dashboardPage.text.contains(
                    HTML.escape(
                        HTML.link(
                            "/ui/catalog/asset",
                            ["connectionId": warehouse.id, "kind": "table", "qualifiedName": tableName]))))
            #expect(dashboardPage.text.contains("unresolved"))
            #expect(dashboardPage.text.contains("other.internal:5432"))
            let fieldPage = try await client.page(
                HTML.link(
                    "/ui/catalog/asset",
                    ["connectionId": bi.id, "kind": "field", "qualifiedName": site.embeddedField.description]),
                session: session)
            #expect(fieldPage.text.contains("Built from") && fieldPage.text.contains("Used by"))
            #expect(fieldPage.text.contains("SUM([Amount])"))

            // The warehouse published again, its table changed but kept: the lineage holds.
            try await S.ingest(
                store, harness, warehouse,
                S.warehouse(warehouse.name, tables: [S.hostileTable], comment: "now with a comment"), at: 3)
            try await expectUsedByDashboard("after the warehouse was published again")
            _ = try await expectDashboardReachesTable("after the warehouse was published again")

            // Tableau published again, the dashboard and a field changed: the lineage holds, nothing doubled.
            try await S.ingest(
                store, harness, bi, site.records(revision: 2), completeness: [site.completeness()], at: 4)
            try await expectUsedByDashboard("after Tableau was published again")
            let again = try await expectDashboardReachesTable("after Tableau was published again")
            #expect(again.below.count == 5 && again.tables.count == 2)

            // The table is gone from the warehouse: the reference stays, unresolved, with what Tableau said.
            try await S.ingest(store, harness, warehouse, S.warehouse(warehouse.name, tables: ["orders"]), at: 5)
            let afterRemoval = try await client.lineage(
                tenant, connectionId: bi.id, kind: "dashboard", qualifiedName: site.dashboard.description)
            let lost = try #require(afterRemoval.tables.first { $0.table == S.hostileTable })
            #expect(!lost.resolved && lost.assets.isEmpty)
            #expect(lost.connectionType == "postgres" && lost.host == "DB.internal" && lost.schema == "public")
            #expect(lost.reason?.contains("warehouse") == true, "\(lost.reason ?? "")")

            // A connection added after the Tableau ingestion resolves the reference that named its host, here by
            // the case-insensitive fallback (its table is upper case, as Snowflake would keep it).
            let other = try await S.connection(
                store, tenant, name: "other", kind: "postgresql", url: "postgres://reader@Other.Internal:5432/shop")
            try await S.ingest(
                store, harness, other, S.warehouse(other.name, schema: "PUBLIC", tables: ["GHOST"]), at: 6)
            let afterAddition = try await client.lineage(
                tenant, connectionId: bi.id, kind: "dashboard", qualifiedName: site.dashboard.description)
            let ghost = try #require(afterAddition.tables.first { $0.table == "ghost" })
            #expect(ghost.resolved)
            #expect(ghost.assets.map(\.qualifiedName) == [S.tableName(other.name, "GHOST", schema: "PUBLIC")])
            let ghostUsers = try await client.lineage(
                tenant, connectionId: other.id, kind: "table",
                qualifiedName: S.tableName(other.name, "GHOST", schema: "PUBLIC"))
            #expect(ghostUsers.above.contains { $0.kind == "dashboard" && $0.connectionId == bi.id })

            // The dashboard is deleted in Tableau: its links go with it (the ghost table's users stop at the sheet).
            var withoutDashboard = site
            withoutDashboard.withDashboard = false
            try await S.ingest(
                store, harness, bi, withoutDashboard.records(revision: 2), completeness: [site.completeness()], at: 7)
            let afterDeletion = try await client.lineage(
                tenant, connectionId: other.id, kind: "table",
                qualifiedName: S.tableName(other.name, "GHOST", schema: "PUBLIC"))
            #expect(!afterDeletion.above.contains { $0.kind == "dashboard" }, "\(afterDeletion.above)")
            #expect(afterDeletion.above.contains { $0.kind == "sheet" && $0.connectionId == bi.id })

            // Another tenant sees nothing of it.
            let foreign = try await client.send(
                .get,
                HTML.link(
                    "/v1/admin/catalog/lineage",
                    ["connectionId": bi.id, "kind": "dashboard", "qualifiedName": site.dashboard.description]),
                key: harness.tenantB.admin)
            #expect(foreign.status == .notFound)
        }
    }

    @Test(
        "a Snowflake reference resolves by account host and names in any case, and stays unresolved when that is ambiguous",
        arguments: StorageBackend.allCases)
    func snowflakeResolution(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend, setup: .router) { harness, client in
            let tenant = harness.tenantA
            let store = harness.store
            let snowflake = try await S.connection(
                store, tenant, name: "sf", kind: "snowflake",
                url: "snowflake://READER@xy12345.eu-west-1/ANALYTICS?warehouse=WH")
            try await S.ingest(
                store, harness, snowflake,
                S.warehouse(
                    snowflake.name, database: "ANALYTICS", schema: "PUBLIC", tables: ["ORDERS", "Items", "ITEMS"]),
                at: 1)
            let bi = try await S.connection(
                store, tenant, name: "bi", kind: "tableau", url: "tableau://tableau.example.com/acme")
            var site = S(connection: bi.name)
            // As Tableau reports them: names as written in the workbook, the host in any case.
            site.publishedTables = [
                ("analytics", "public", "orders"), ("ANALYTICS", "PUBLIC", "ITEMS"),
                ("analytics", "public", "items"), ("analytics", "public", "missing"),
            ].map {
                TableReference(
                    connectionType: "snowflake", host: "XY12345.eu-west-1.snowflakecomputing.com", database: $0.0,
                    schema: $0.1, table: $0.2)
            }
            try await S.ingest(store, harness, bi, site.records(), completeness: [site.completeness()], at: 2)
            let lineage = try await client.lineage(
                tenant, connectionId: bi.id, kind: "dataSource", qualifiedName: site.published.description)
            func table(_ name: String) throws -> CatalogTableReference {
                try #require(lineage.tables.first { $0.table == name }, "\(name)")
            }
            #expect(try table("orders").assets.map(\.qualifiedName) == ["sf/ANALYTICS/PUBLIC/ORDERS"])
            // The exact name wins over the case-insensitive match.
            #expect(try table("ITEMS").assets.map(\.qualifiedName) == ["sf/ANALYTICS/PUBLIC/ITEMS"])
            #expect(try !table("items").resolved)
            #expect(try table("items").reason?.contains("2 tables") == true)
            #expect(try !table("missing").resolved)
        }
    }

    @Test(
        "a Tableau project's assets are replaced when the project is complete and kept when it is not, with project filters by path",
        arguments: StorageBackend.allCases)
    func projectsAreCompletenessScopes(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend, setup: .router) { harness, _ in
            let tenant = harness.tenantA
            let store = harness.store
            let bi = try await S.connection(
                store, tenant, name: "bi", kind: "tableau", url: "tableau://tableau.example.com/acme")
            // A nested project selected by its path, as the connector records its project filters.
            var site = S(connection: bi.name, nested: true)
            let filters = { (manifest: inout Manifest) in manifest.filters.includeSchemas = ["Finance/Reports"] }
            try await S.ingest(
                store, harness, bi, site.records(), completeness: [site.completeness()], at: 1, manifest: filters)
            let dashboard = site.dashboard.description
            #expect(
                try await store.asset(
                    tenantId: tenant.tenant.id, connectionId: bi.id, kind: "dashboard", qualifiedName: dashboard) != nil
            )

            // The project incomplete, the dashboard missing: kept, with its lineage.
            site.withDashboard = false
            try await S.ingest(
                store, harness, bi, site.records(), completeness: [site.completeness(complete: false)], at: 2,
                manifest: filters)
            #expect(
                try await store.asset(
                    tenantId: tenant.tenant.id, connectionId: bi.id, kind: "dashboard", qualifiedName: dashboard) != nil
            )
            let kept = try await store.lineageBelow(
                tenantId: tenant.tenant.id, connectionId: bi.id, kind: "dashboard", qualifiedName: dashboard, limit: 10)
            #expect(kept.assets.map(\.qualifiedName).contains(site.sheet.description))

            // The project complete, the dashboard missing: removed, and its links with it.
            try await S.ingest(
                store, harness, bi, site.records(), completeness: [site.completeness()], at: 3, manifest: filters)
            #expect(
                try await store.asset(
                    tenantId: tenant.tenant.id, connectionId: bi.id, kind: "dashboard", qualifiedName: dashboard) == nil
            )
            let above = try await store.lineageAbove(
                tenantId: tenant.tenant.id, connectionId: bi.id, kind: "sheet", qualifiedName: site.sheet.description,
                limit: 10)
            #expect(above.assets.isEmpty)
        }
    }
}

extension BILineageTests {
    @Test(
        "a site whose project list was read whole: an incomplete project keeps its assets, a vanished one loses them",
        arguments: StorageBackend.allCases)
    func vanishedProjects(backend: StorageBackend) async throws {
        try await DeliveryHarness.serve(backend: backend, setup: .router) { harness, _ in
            let tenant = harness.tenantA
            let store = harness.store
            let bi = try await S.connection(
                store, tenant, name: "bi", kind: "tableau", url: "tableau://tableau.example.com/acme")
            var site = S(connection: bi.name, nested: true)
            let whole = Manifest.Completeness(
                database: "Acme", schema: nil, qualifiedName: site.siteName, complete: true)
            func exists(_ kind: String, _ name: QualifiedName) async throws -> Bool {
                try await store.asset(
                    tenantId: tenant.tenant.id, connectionId: bi.id, kind: kind, qualifiedName: name.description) != nil
            }
            try await S.ingest(store, harness, bi, site.records(), completeness: [whole, site.completeness()], at: 1)
            #expect(try await exists("dashboard", site.dashboard))

            // Reports could not be read this time (it is still listed): what is known of it stays.
            site.withDashboard = false
            try await S.ingest(
                store, harness, bi, site.records(), completeness: [whole, site.completeness(complete: false)], at: 2)
            #expect(try await exists("dashboard", site.dashboard))
            #expect(try await exists("project", site.project))

            // Reports is gone from the site: it and everything in it go.
            let remaining = site.records().filter {
                guard case .bi(let record) = $0 else { return false }
                return record.kind == .site || record.qualifiedName == site.topProject
            }
            let finance = Manifest.Completeness(
                database: "Acme", schema: "Finance", qualifiedName: site.topProject, complete: true)
            try await S.ingest(store, harness, bi, remaining, completeness: [whole, finance], at: 3)
            #expect(try await !exists("project", site.project))
            #expect(try await !exists("workbook", site.workbook))
            #expect(try await !exists("dashboard", site.dashboard))
            #expect(try await exists("project", site.topProject))
        }
    }
}

/// A small Tableau site over one PostgreSQL table: a dashboard holds a sheet, which shows a field of an embedded
/// data source that reads through a published data source, whose table is `hostileTable`; the embedded field also
/// names a column of a table on a host no connection has.
struct BISite {
    static let hostileTable = #"line/"items" 📦"#
    static let dashboardName = #"Sales / "Q1" 🚀 <b>"#

    var connection: String
    var nested = false
    var withDashboard = true
    var publishedTables = [
        TableReference(
            connectionType: "postgres", host: "DB.internal", port: 5432, database: "shop", schema: "public",
            table: hostileTable)
    ]

    init(connection: String, nested: Bool = false) {
        self.connection = connection
        self.nested = nested
    }

    var siteName: QualifiedName { QualifiedName([connection, "Acme"]) }
    var topProject: QualifiedName { siteName.appending("Finance") }
    var project: QualifiedName { nested ? topProject.appending("Reports") : topProject }
    var workbook: QualifiedName { project.appending(marker: .workbook, "Revenue") }
    var published: QualifiedName { project.appending(marker: .dataSource, "Orders") }
    var publishedField: QualifiedName { published.appending("Amount") }
    var embedded: QualifiedName { workbook.appending(marker: .dataSource, "Orders (embedded)") }
    var embeddedField: QualifiedName { embedded.appending("Amount") }
    var sheet: QualifiedName { workbook.appending(marker: .sheet, "Revenue by month") }
    var dashboard: QualifiedName { workbook.appending(marker: .dashboard, Self.dashboardName) }

    func completeness(complete: Bool = true) -> Manifest.Completeness {
        Manifest.Completeness(
            database: "Acme", schema: nested ? "Finance/Reports" : "Finance", qualifiedName: project,
            complete: complete, reason: complete ? nil : "the Metadata API answered with errors")
    }

    /// `revision` changes the dashboard's and a field's records, so a publish replaces them.
    func records(revision: Int = 1) -> [MetadataRecord] {
        var projects = [
            Project(
                qualifiedName: topProject, name: "Finance", site: siteName, parentProject: nil, path: "Finance",
                luid: "p1")
        ]
        if nested {
            projects.append(
                Project(
                    qualifiedName: project, name: "Reports", site: siteName, parentProject: topProject,
                    path: "Finance/Reports", luid: "p2"))
        }
        var records: [BIRecord] = [
            .site(Site(qualifiedName: siteName, name: "Acme", contentUrl: "acme", luid: "s1", url: nil))
        ]
        records += projects.map { .project($0) }
        records += [
            .workbook(
                Workbook(
                    qualifiedName: workbook, name: "Revenue", site: siteName, project: project, luid: "w1",
                    url: "https://tableau.example.com/#/site/acme/workbooks/1")),
            .dataSource(
                DataSource(
                    qualifiedName: published, name: "Orders", site: siteName, project: project, workbook: nil,
                    published: true, luid: "d1", certified: true, upstreamDataSources: [],
                    upstreamTables: publishedTables)),
            .field(
                Field(
                    qualifiedName: publishedField, name: "Amount", site: siteName, project: project,
                    dataSource: published, fieldType: .column, upstreamFields: [], upstreamColumns: [])),
            .dataSource(
                DataSource(
                    qualifiedName: embedded, name: "Orders (embedded)", site: siteName, project: project,
                    workbook: workbook, published: false, luid: nil, upstreamDataSources: [published],
                    upstreamTables: [])),
            .field(
                Field(
                    qualifiedName: embeddedField, name: "Amount", site: siteName, project: project,
                    dataSource: embedded, fieldType: .calculated, role: "measure",
                    formula: revision == 1 ? "SUM([Amount])" : "SUM([Amount]) * 1",
                    upstreamFields: [publishedField],
                    upstreamColumns: [
                        TableReference(
                            connectionType: "postgres", host: "other.internal", database: "shop", schema: "public",
                            table: "ghost", column: "x")
                    ])),
            .sheet(
                Sheet(
                    qualifiedName: sheet, name: "Revenue by month", site: siteName, project: project,
                    workbook: workbook, luid: "v1", fields: [embeddedField])),
        ]
        if withDashboard {
            records.append(
                .dashboard(
                    Dashboard(
                        qualifiedName: dashboard, name: Self.dashboardName, site: siteName, project: project,
                        workbook: workbook, luid: "v2", updatedAt: "2025-01-0\(revision)T00:00:00Z", sheets: [sheet])))
        }
        return records.map { .bi($0) }
    }

    /// One database with one schema and `tables` in it, each with an `id` column.
    static func warehouse(
        _ connection: String, database: String = "shop", schema: String = "public", tables: [String],
        comment: String? = nil
    ) -> [MetadataRecord] {
        var records = [
            CatalogRecords.database(connection, database), CatalogRecords.schema(connection, database, schema),
        ]
        for table in tables {
            var relation = CatalogRecords.table(connection, database, schema, table)
            if case .relation(var value) = relation {
                value.comment = comment
                relation = .relation(value)
            }
            records.append(relation)
        }
        return records
    }

    static func tableName(_ connection: String, _ table: String, schema: String = "public") -> String {
        QualifiedName([connection, "shop", schema, table]).description
    }

    static func connection(
        _ store: any ControlPlaneStore, _ tenant: TenantKeys, name: String, kind: String, url: String
    ) async throws -> ConnectionRecord {
        var connection = StorageFixtures.connection(tenant.tenant, name: name)
        connection.sourceKind = kind
        connection.sourceURL = url
        connection.secrets = [:]
        connection.schedule = nil
        try await store.createConnection(connection)
        return connection
    }

    /// Delivers `records` as a run of `connection` and ingests it as the server does; a database's schemas are
    /// complete unless `completeness` says otherwise.
    static func ingest(
        _ store: any ControlPlaneStore, _ harness: DeliveryHarness, _ connection: ConnectionRecord,
        _ records: [MetadataRecord], completeness: [Manifest.Completeness]? = nil, at seconds: Int,
        manifest change: (inout Manifest) -> Void = { _ in }
    ) async throws {
        let run = try await CatalogFixtures.run(store, connection, at: seconds)
        let folder = try harness.folder("\(connection.name)-\(seconds)")
        var schemas: [Manifest.Completeness] = []
        for case .schema(let schema) in records {
            schemas.append(CatalogRecords.completeness(connection.name, schema.database.parts[1], schema.name))
        }
        try DeliveryWriter.write(
            records, connection: connection.name, completeness: completeness ?? schemas, into: folder)
        var written = try folder.readManifest()
        change(&written)
        try folder.writeManifest(written)
        try await ingest(store, folder: folder, run: run, connection: connection, at: seconds)
    }

    private static func ingest(
        _ store: some ControlPlaneStore, folder: ExtractionFolder, run: RunRecord, connection: ConnectionRecord,
        at seconds: Int
    ) async throws {
        let directory = try TemporaryDirectory()
        let blobs = try LocalBlobStore(
            root: directory.path + "/blobs", key: LocalBlobStore.loadOrCreateKey(at: directory.path + "/blob.key"))
        var logger = Logger(label: "outpost.test.ingestor")
        logger.logLevel = .error
        _ = try await Ingestor(catalog: store, blobs: blobs, logger: logger).ingest(
            from: FolderDeliverySource(path: folder.path), tenantId: connection.tenantId, runId: run.id,
            connectionId: connection.id, connectionName: connection.name, now: StorageFixtures.time(seconds))
        try await store.clearStaging(tenantId: connection.tenantId, runId: run.id)
    }
}

/// A delivery read from an extraction folder, each file in one piece.
struct FolderDeliverySource: DeliverySource {
    let path: String

    func read(file: String, _ body: ([UInt8]) async throws -> Void) async throws {
        guard let data = FileManager.default.contents(atPath: path + "/" + file) else {
            throw BlobError(.notFound, "\(file) is not in \(path)")
        }
        try await body(Array(data))
    }
}

extension TestClientProtocol {
    /// `GET /v1/admin/catalog/lineage` as `tenant`'s admin.
    func lineage(
        _ tenant: TenantKeys, connectionId: String, kind: String, qualifiedName: String
    ) async throws -> CatalogLineageResponse {
        try await send(
            .get,
            HTML.link(
                "/v1/admin/catalog/lineage",
                ["connectionId": connectionId, "kind": kind, "qualifiedName": qualifiedName]),
            key: tenant.admin
        ).decode(CatalogLineageResponse.self)
    }
}
