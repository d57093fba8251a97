import Agent
import ControlPlane
import Foundation
import Metadata
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("Tableau runs through the agent", .serialized)
struct TableauAgentRunTests {
    @Test("two runs with the same Tableau token take turns: no session is broken, and the run that waits says so")
    func sameTokenRunsTakeTurns() async throws {
        let fake = try TestTableau(options: ["--max-page-size", "3"])
        defer { fake.stop() }
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, concurrency: 2, extraPolicy: "    - \"tableau://127.0.0.1:*/**\"")
            let nameFile = setup.directory.path + "/pat-name"
            let secretFile = setup.directory.path + "/pat-secret"
            try Data(TestTableau.patName.utf8).write(to: URL(fileURLWithPath: nameFile))
            try Data(TestTableau.patSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
            var runs: [String] = []
            for name in ["tableau-a", "tableau-b"] {
                let connection = try await controlPlane.createConnection(
                    ConnectionRequest(
                        name: name, sourceKind: "tableau", sourceURL: fake.sourceURL(parameters: "&page_size=2"),
                        secrets: ["patName": "file:\(nameFile)", "patSecret": "file:\(secretFile)"]))
                runs.append(try await controlPlane.runNow(connection.id).id)
            }
            let queued = runs
            try await withAgent(setup) { _ in
                for runId in queued {
                    let run = try await controlPlane.finished(runId, within: .seconds(120))
                    #expect(run.status == .partial, "the project the token cannot read: \(run.error ?? "")")
                }
            }
            var waited = 0
            for runId in queued {
                let log = try await controlPlane.log(runId)
                #expect(!log.contains(TestTableau.patSecret))
                if log.contains("run.waiting") && log.contains("same Tableau personal access token") { waited += 1 }
            }
            #expect(waited == 1, "one run waited for the other")
            let stats = try fake.stats()
            #expect(stats["signIns"] as? Int == 2 && stats["signOuts"] as? Int == 2)
            #expect(stats["unauthorized"] as? Int == 0, "no run's session was ended by the other's sign-in")
        }
    }

    @Test("PostgreSQL and Tableau through the agent: the table lists the dashboard above it, across connections")
    func lineageAcrossConnections() async throws {
        let postgres = try TestPostgres()
        let database = try postgres.createDatabase(
            loading: #"""
                CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric, status text,
                    created_at timestamptz);
                CREATE TABLE public.customers (id bigint PRIMARY KEY, name text, email text, region text);
                CREATE SCHEMA "sales ""eu""";
                CREATE TABLE "sales ""eu"""."weird.table name" ("col ""q""" text, "a\b" text);
                """#)
        defer { postgres.dropDatabase(database) }
        let directory = try TemporaryDirectory()
        // The hostile site, its PostgreSQL server being the test's.
        var site =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestTableau.hostileSite)))
            as! [String: Any]
        var databases = site["databases"] as! [[String: Any]]
        let index = try #require(databases.firstIndex { $0["connectionType"] as? String == "postgres" })
        databases[index]["hostName"] = "127.0.0.1"
        databases[index]["port"] = postgres.port
        databases[index]["name"] = database
        site["databases"] = databases
        let siteFile = directory.path + "/site.json"
        try JSONSerialization.data(withJSONObject: site).write(to: URL(fileURLWithPath: siteFile))
        let fake = try TestTableau(siteFile: siteFile)
        defer { fake.stop() }

        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "    - \"tableau://127.0.0.1:*/**\"")
            let files = setup.directory.path
            try Data(postgres.password.utf8).write(to: URL(fileURLWithPath: files + "/pg-password"))
            try Data(TestTableau.patName.utf8).write(to: URL(fileURLWithPath: files + "/pat-name"))
            try Data(TestTableau.patSecret.utf8).write(to: URL(fileURLWithPath: files + "/pat-secret"))
            let warehouse = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "warehouse", sourceKind: "postgresql",
                    sourceURL: "postgres://\(postgres.user)@127.0.0.1:\(postgres.port)/\(database)",
                    secrets: ["password": "file:\(files)/pg-password"]))
            let bi = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "bi", sourceKind: "tableau", sourceURL: fake.sourceURL(),
                    secrets: ["patName": "file:\(files)/pat-name", "patSecret": "file:\(files)/pat-secret"]))
            let orders = "warehouse/\(database)/public/orders"
            let dashboard = QualifiedName(["bi", "Outpost \"hostile\" site", "Sales"])
                .appending(marker: .workbook, "Sales \"Overview\" / 2024").appending(marker: .dashboard, "Overview")
                .description

            @Sendable func lineage(
                _ connection: String, _ kind: String, _ name: String
            ) async throws -> CatalogLineageResponse {
                var components = URLComponents()
                components.queryItems = [
                    URLQueryItem(name: "connectionId", value: connection), URLQueryItem(name: "kind", value: kind),
                    URLQueryItem(name: "qualifiedName", value: name),
                ]
                let query = components.percentEncodedQuery!.replacing("+", with: "%2B")
                return try await controlPlane.admin(
                    .GET, "/v1/admin/catalog/lineage?" + query, as: CatalogLineageResponse.self)
            }
            @Sendable func check(_ when: String) async throws {
                let above = try await lineage(warehouse.id, "table", orders)
                #expect(
                    above.above.contains { $0.kind == "dashboard" && $0.qualifiedName == dashboard },
                    "\(when): the dashboard is above the table: \(above.above.map(\.qualifiedName))")
                let below = try await lineage(bi.id, "dashboard", dashboard)
                let reference = below.tables.first { $0.table == "orders" }
                #expect(reference?.resolved == true, "\(when): \(below.tables)")
                #expect(reference?.assets.map(\.qualifiedName) == [orders], "\(when)")
            }

            try await withAgent(setup) { _ in
                for connection in [warehouse.id, bi.id] {
                    let run = try await controlPlane.finished(
                        try await controlPlane.runNow(connection).id, within: .seconds(120))
                    #expect(run.status == .succeeded || run.status == .partial, "\(run.error ?? "")")
                }
                try await check("after both ran")
                // Re-running either side keeps the lineage.
                for connection in [warehouse.id, bi.id] {
                    _ = try await controlPlane.finished(
                        try await controlPlane.runNow(connection).id, within: .seconds(120))
                    try await check("after the \(connection == bi.id ? "Tableau" : "PostgreSQL") side ran again")
                }
            }
        }
    }
}
