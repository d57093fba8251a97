// The web UI in a real browser: headless Chromium driven over W3C WebDriver (chromedriver) against a live control
// plane on a loopback port. The agent daemon is not part of this test: the test itself plays the agent over the
// real agent API v1 (claim, start, log chunks, uploads of a real SQLite extraction, complete).

import Connectors
import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Metadata
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("Web UI in headless Chromium")
struct UIBrowserTests {
    static let quietLogger = Logger(label: "outpost.test.extract", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test(
        "an admin signs in, creates a connection, runs it, watches its log live and browses the resulting tables",
        .timeLimit(.minutes(2)))
    func walkThrough() async throws {
        let screenshots = try ScreenshotFolder()
        try await DeliveryHarness.serve(setup: .live) { harness, client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            let sample = BuildProducts.repositoryRoot + "/Samples/shop.db"
            #expect(FileManager.default.fileExists(atPath: sample))

            try await ChromeDriver.withSession { browser in
                // Sign in with the bootstrap admin key.
                try await browser.navigate(to: base + "/ui")
                #expect(try await browser.currentURL() == base + "/ui/sign-in")
                try await browser.type(harness.tenantA.admin, into: try await browser.element("#key"))
                try await browser.click(try await browser.element("form.stacked button[type=submit]"))
                try await browser.wait("the overview") { try await browser.currentURL() == base + "/ui" }
                #expect(try await browser.text(of: try await browser.element("h1")) == "Overview")
                try await screenshots.take("1-overview", browser)

                // Create a connection through the form.
                try await browser.navigate(to: base + "/ui/connections/new")
                try await browser.type("shop", into: try await browser.element("#name"))
                try await browser.type("sqlite:" + sample, into: try await browser.element("#sourceURL"))
                try await browser.click(try await browser.element("form.stacked button[type=submit]"))
                try await browser.wait("the connection page") {
                    try await browser.currentURL().hasPrefix(base + "/ui/connections/con_")
                }
                let connections = try await harness.store.connections(tenantId: harness.tenantA.tenant.id)
                #expect(connections.map(\.name) == ["shop"])
                #expect(connections.first?.sourceURL == "sqlite:" + sample)
                try await screenshots.take("2-connection", browser)

                // "Run now" opens the queued run's page, whose log view starts polling.
                try await browser.click(try await browser.element(".toolbar form.inline button"))
                try await browser.wait("the run page") { try await browser.currentURL().contains("/ui/runs/run_") }
                let runId = String(try await browser.currentURL().split(separator: "/").last ?? "")
                #expect(try await browser.text(of: try await browser.element("#run-status")) == "queued")

                // The test plays the agent from here on.
                let agent = PlayedAgent(harness: harness, client: client)
                try await agent.heartbeat()
                let assignment = try await agent.claimAndStart()
                #expect(assignment.runId == runId)
                try await agent.log("agent: extracting sqlite source shop.db\n")
                try await browser.wait("the first log line in the live view") {
                    try await browser.text(of: try await browser.element("#log")).contains("extracting sqlite source")
                }
                #expect(try await browser.text(of: try await browser.element("#run-status")) == "running")
                #expect(try await browser.text(of: try await browser.element("#run-started")) != "—")
                #expect(try await browser.elements("#run-actions").count == 1)

                let folder = try harness.folder("extraction")
                let manifest = try await Extraction(
                    connector: SQLiteConnector(path: sample), scope: ExtractionScope(connection: "shop"),
                    folder: folder
                ).run(progress: ExtractionProgress(), logger: Self.quietLogger)
                try await agent.log("agent: wrote \(manifest.recordCount) records in \(manifest.files.count) files\n")
                try await browser.wait("the second log line in the live view") {
                    try await browser.text(of: try await browser.element("#log")).contains("records in")
                }
                try await screenshots.take("3-run-live", browser)

                try await client.uploadAll(harness, assignment, try DeliveredFile.all(in: folder))
                try await agent.complete()
                let finished = try await harness.finishedRun(runId)
                #expect(finished.status == .succeeded)
                try await browser.wait("the live view to show the run succeeded") {
                    try await browser.text(of: try await browser.element("#run-status")) == "succeeded"
                }
                let log = try await browser.text(of: try await browser.element("#log"))
                #expect(log.components(separatedBy: "agent:").count == 3)
                // The page the run started on follows it to its end: no cancel button, the times filled in.
                #expect(try await browser.elements("#run-actions").isEmpty)
                #expect(try await browser.text(of: try await browser.element("#run-finished")) != "—")
                #expect(!(try await browser.text(of: try await browser.element("#run-duration"))).contains("so far"))

                // Reloaded, the run shows its counts and manifest.
                try await browser.navigate(to: base + "/ui/runs/\(runId)")
                let page = try await browser.text(of: try await browser.element("main"))
                #expect(page.contains("Counts"))
                #expect(page.contains("Total"))
                #expect(page.contains(String(manifest.recordCount)))
                #expect(page.contains(manifest.extractionId))
                // What the publish changed: everything was new.
                #expect(page.contains("new of \(manifest.recordCount)"), "\(page)")
                #expect(page.contains("sqlite"))
                try await screenshots.take("4-run-finished", browser)

                // The agent the test played shows with its version and load.
                try await browser.navigate(to: base + "/ui/agents")
                let agents = try await browser.text(of: try await browser.element("table"))
                #expect(agents.contains("agent one"))
                #expect(agents.contains("0.1.0"))
                #expect(agents.contains("active"))
                try await screenshots.take("5-agents", browser)

                // The catalog search for tables finds customers; its page lists columns, keys and indexes.
                try await browser.navigate(to: base + "/ui/catalog")
                try await browser.type("customers", into: try await browser.element("#q"))
                try await browser.click(try await browser.element("select[name=kind] option[value=table]"))
                try await browser.click(try await browser.element("form[role=search] button"))
                try await browser.wait("search results") { try await browser.currentURL().contains("kind=table") }
                let results = try await browser.elements("tbody td:first-child > a")
                #expect(results.count == 1)
                let first = try #require(results.first)
                #expect(try await browser.text(of: first) == "customers")
                try await browser.click(first)
                try await browser.wait("the customers page") {
                    try await browser.text(of: try await browser.element("h1")) == "customers"
                }
                let table = try await browser.text(of: try await browser.element("main"))
                for column in ["customer_id", "email", "full_name", "country", "signed_up_on", "email_domain"] {
                    #expect(table.contains(column), "column \(column)")
                }
                #expect(table.contains("primary key"))
                #expect(table.contains("ux_customers_email"))
                try await screenshots.take("6-customers", browser)
                let customersURL: String? = try await browser.currentURL()

                // The table's lineage graph: the views built on it, drawn as SVG, each node a link.
                try await browser.click(try await browser.element("a.button[href*='/ui/catalog/lineage']"))
                try await browser.wait("the lineage graph") {
                    (try? await browser.element("svg.lineage")) != nil
                }
                #expect(try await browser.elements("svg.lineage rect").count == 3)
                #expect(try await browser.elements("svg.lineage a").count == 3)
                try await screenshots.take("7-lineage-graph", browser)
                try await browser.navigate(to: try #require(customersURL))

                // A column's page: its type and the keys it is part of; the breadcrumbs lead up to the schema.
                try await browser.click(try await browser.element("a[href*='kind=column'][href*='customer_id']"))
                try await browser.wait("the customer_id column's page") {
                    try await browser.text(of: try await browser.element("h1")) == "customer_id"
                }
                let column = try await browser.text(of: try await browser.element("main"))
                #expect(column.contains("INTEGER"))
                #expect(column.contains("primary key pk_customers"))
                try await browser.click(try await browser.element("nav.crumbs a:last-child"))
                try await browser.wait("the customers page again") {
                    try await browser.text(of: try await browser.element("h1")) == "customers"
                }

                // Browsing: the catalog's connections, the connection's database, its schema with counts by kind.
                try await browser.navigate(to: base + "/ui/catalog")
                try await browser.click(try await browser.element("tbody td:first-child > a"))
                try await browser.wait("the connection's top level") {
                    try await browser.currentURL().contains("/ui/catalog/browse")
                }
                try await browser.click(try await browser.element("tbody td:first-child > a"))
                try await browser.wait("the database's schemas") {
                    try await browser.text(of: try await browser.element("main")).contains("tables")
                }
                try await browser.click(try await browser.element("tbody td:first-child > a"))
                try await browser.wait("the schema's contents") {
                    try await browser.text(of: try await browser.element("nav.tabs")).contains("table (5)")
                }
                let schema = try await browser.text(of: try await browser.element("main"))
                #expect(schema.contains("view (3)"))
                #expect(schema.contains("1–8 of 8"))
                #expect(schema.contains("customers"))
                try await screenshots.take("8-browse-schema", browser)

                // Search with facets: words from the qualified name, refined by a facet.
                try await browser.navigate(to: base + "/ui/catalog")
                try await browser.type("main customers", into: try await browser.element("#q"))
                try await browser.click(try await browser.element("form[role=search] button"))
                try await browser.wait("results with facets") {
                    (try? await browser.element("aside.facets")) != nil
                }
                try await browser.click(try await browser.element("aside.facets a[href*='kind=column']"))
                try await browser.wait("the column facet applied") {
                    try await browser.currentURL().contains("kind=column")
                }
                let columns = try await browser.elements("tbody td:first-child > a")
                // The six of customers, and the view column named customers.
                #expect(columns.count == 7)
                try await screenshots.take("9-search-facets", browser)
            }
        }
        #expect(screenshots.taken == 9)
    }
}

/// The test standing in for the agent daemon: the same calls over the same agent API v1 a real agent makes.
private final class PlayedAgent: @unchecked Sendable {
    // Used from the one test task only.
    let harness: DeliveryHarness
    let client: any TestClientProtocol
    private var assignment: RunAssignment?
    private var offset = 0
    private var hasher = SHA256()

    init(harness: DeliveryHarness, client: any TestClientProtocol) {
        self.harness = harness
        self.client = client
    }

    func heartbeat() async throws {
        var heartbeat = HeartbeatRequest(
            agentId: "agent-1", agentName: "agent one", version: "0.1.0", state: .busy, runningLeases: [],
            freeSlots: 1)
        heartbeat.cpuPercent = 7.5
        heartbeat.memoryBytes = 48 * 1024 * 1024
        let response = try await client.send(
            .post, AgentProtocol.Path.heartbeat, key: harness.tenantA.agent, json: heartbeat)
        guard response.status == .ok else { throw FixtureError("heartbeat: \(response.status) \(response.text)") }
    }

    func claimAndStart() async throws -> RunAssignment {
        let claim = try await client.send(
            .post, AgentProtocol.Path.claim, key: harness.tenantA.agent, json: claimRequest())
        let assignment = try claim.decode(ClaimResponse.self).run
        let start = try await client.send(
            .post, AgentProtocol.Path.start(run: assignment.runId), key: harness.tenantA.agent,
            json: StartRequest(leaseId: assignment.leaseId, agentId: "agent-1"))
        guard start.status == .ok else { throw FixtureError("start: \(start.status) \(start.text)") }
        self.assignment = assignment
        return assignment
    }

    /// Ships one gzip log chunk at the current offset.
    func log(_ text: String) async throws {
        let assignment = try #require(assignment)
        let bytes = Array(text.utf8)
        let response = try await client.send(
            .put, AgentProtocol.Path.logs(run: assignment.runId) + "?offset=\(offset)", key: harness.tenantA.agent,
            bytes: try Gzip.compress(bytes),
            headers: [
                HTTPField.Name(AgentProtocol.leaseHeader)!: String(assignment.leaseId), .contentEncoding: "gzip",
            ])
        guard response.status == .ok else { throw FixtureError("log: \(response.status) \(response.text)") }
        offset += bytes.count
        hasher.update(data: bytes)
    }

    /// Completes the run with the true log totals.
    func complete() async throws {
        let assignment = try #require(assignment)
        let response = try await client.send(
            .post, AgentProtocol.Path.complete(run: assignment.runId), key: harness.tenantA.agent,
            json: CompleteRequest(
                leaseId: assignment.leaseId, status: .succeeded,
                logs: .init(bytes: Int64(offset), sha256: Hex.encode(hasher.finalize()), droppedBytes: 0)))
        guard response.status == .ok else { throw FixtureError("complete: \(response.status) \(response.text)") }
    }
}
