// The quickstart as a new user meets it: the real `outpost quickstart` binary as a child process and its web UI in
// headless Chromium (chromedriver over W3C WebDriver), with the quickstart's own agent running every job.

import Foundation
import OutpostTesting
import Testing

@Suite("outpost quickstart in a browser", .serialized)
struct QuickstartBrowserTests {
    @Test(.timeLimit(.minutes(5)))
    func anAdminWalksTheWebUIRunsANewConnectionAndCtrlCStopsEverything() async throws {
        let directory = try TemporaryDirectory()
        let port = try FreePort.find()
        let quickstart = try QuickstartProcess(
            dataDir: directory.path + "/quickstart", port: port, cwd: directory.path)
        guard try await quickstart.waitUntilReady(within: .seconds(120)) else {
            throw QuickstartFailure(
                "the quickstart did not report its first run: \(quickstart.output) \(quickstart.errors)")
        }
        let (ui, adminKey) = try #require(quickstart.printed, "\(quickstart.output)")
        let base = "http://127.0.0.1:\(port)"
        #expect(ui == base + "/ui")
        #expect(quickstart.output.contains("First run:  succeeded"), "\(quickstart.output)")
        // Its own process group, as a shell starts a command: Ctrl-C in the terminal goes to that group.
        let group = try #require(ProcessTable.entry(quickstart.pid)).group
        // Every process the quickstart started, as seen while it worked.
        var started: [ProcessTable.Entry] = ProcessTable.descendants(of: quickstart.pid)
        let sample = "sqlite:" + BuildProducts.repositoryRoot + "/Samples/shop.db"
        let screenshots = try ScreenshotFolder()

        try await ChromeDriver.withSession { browser in
            // Sign in with the printed admin key.
            try await browser.navigate(to: ui)
            #expect(try await browser.currentURL() == base + "/ui/sign-in")
            try await browser.type(adminKey, into: try await browser.element("#key"))
            try await browser.click(try await browser.element("form.stacked button[type=submit]"))
            try await browser.wait("the overview") { try await browser.currentURL() == ui }
            #expect(try await browser.text(of: try await browser.element("h1")) == "Overview")
            try await screenshots.take("1-overview", browser)

            // The quickstart's agent is listed and active.
            try await browser.navigate(to: ui + "/agents")
            let agents = try await browser.text(of: try await browser.element("table"))
            #expect(agents.contains("quickstart-agent"), "\(agents)")
            #expect(agents.contains("active"), "\(agents)")
            try await screenshots.take("2-agents", browser)

            // The runs page lists the first run; its page shows it succeeded, with the agent's log.
            try await browser.navigate(to: ui + "/runs")
            let runLinks = try await browser.elements("table a.mono")
            #expect(runLinks.count == 1)
            try await browser.click(try #require(runLinks.first))
            try await browser.wait("the first run's page") { try await browser.currentURL().contains("/ui/runs/run_") }
            #expect(try await browser.text(of: try await browser.element("#run-status")) == "succeeded")
            let firstLog = try await browser.text(of: try await browser.element("#log"))
            for event in ["job.started", "job.extracted"] {
                #expect(firstLog.contains(event), "\(firstLog)")
            }
            try await screenshots.take("3-first-run", browser)

            // The catalog search finds the customers table; its page lists the columns.
            try await Self.openCustomers(browser, ui: ui, results: 1, connectionId: nil)
            try await screenshots.take("4-customers", browser)

            // A second connection to the same sample, created through the form and run from its page.
            try await browser.navigate(to: ui + "/connections/new")
            try await browser.type("shop-again", into: try await browser.element("#name"))
            try await browser.type(sample, into: try await browser.element("#sourceURL"))
            try await browser.click(try await browser.element("form.stacked button[type=submit]"))
            try await browser.wait("the connection page") {
                try await browser.currentURL().hasPrefix(ui + "/connections/con_")
            }
            let connectionPath = URLComponents(string: try await browser.currentURL())?.path ?? ""
            let connectionId = String(connectionPath.split(separator: "/").last ?? "")
            try await screenshots.take("5-connection", browser)
            try await browser.click(try await browser.element(".toolbar form.inline button"))
            try await browser.wait("the new run's page") { try await browser.currentURL().contains("/ui/runs/run_") }
            let runPage = try await browser.currentURL()
            try await browser.wait("the new run to succeed in the live view", timeout: .seconds(90)) {
                started += ProcessTable.descendants(of: quickstart.pid)
                let status = try await browser.text(of: try await browser.element("#run-status"))
                if ["failed", "cancelled"].contains(status) {
                    throw QuickstartFailure("the new run \(status): \(quickstart.errors)")
                }
                return status == "succeeded"
            }
            try await browser.navigate(to: runPage)
            let log = try await browser.text(of: try await browser.element("#log"))
            for event in ["job.started", "job.extracted"] {
                #expect(log.contains(event), "\(log)")
            }
            try await screenshots.take("6-new-run", browser)

            // Its tables are in the catalog beside the first connection's.
            try await Self.openCustomers(browser, ui: ui, results: 2, connectionId: connectionId)
            #expect(try await browser.text(of: try await browser.element(".crumbs")).contains("shop-again"))
            try await screenshots.take("7-new-customers", browser)
        }
        #expect(screenshots.taken == 7)

        // Ctrl-C: the agent drains, the server stops, the process exits 0 and leaves nothing running.
        started += ProcessTable.descendants(of: quickstart.pid)
        #expect(group == quickstart.pid, "the quickstart runs in process group \(group)")
        let status = try await quickstart.interrupt(within: .seconds(60))
        #expect(status == 0, "\(quickstart.errors)")
        let leftInGroup = ProcessTable.members(ofGroup: group)
        #expect(leftInGroup.isEmpty, "still running in its process group: \(leftInGroup)")
        let leftOver = started.filter { ProcessTable.entry($0.pid)?.commandLine == $0.commandLine }
        #expect(leftOver.isEmpty, "still running: \(leftOver)")
    }

    /// Searches the catalog for tables named like `customers`, expects `results` of them, and opens the one of
    /// `connectionId` (any when nil); checks that its page lists the sample's columns.
    static func openCustomers(
        _ browser: WebDriverSession, ui: String, results: Int, connectionId: String?
    ) async throws {
        try await browser.navigate(to: ui + "/catalog")
        try await browser.type("customers", into: try await browser.element("#q"))
        try await browser.click(try await browser.element("select[name=kind] option[value=table]"))
        try await browser.click(try await browser.element("form[role=search] button"))
        try await browser.wait("search results") { try await browser.currentURL().contains("kind=table") }
        let found = try await browser.elements("tbody td:first-child > a")
        #expect(found.count == results)
        for link in found { #expect(try await browser.text(of: link) == "customers") }
        let link = try await browser.element(
            connectionId.map { "tbody td:first-child > a[href*='connectionId=\($0)']" } ?? "tbody td:first-child > a")
        try await browser.click(link)
        try await browser.wait("the customers page") {
            try await browser.text(of: try await browser.element("h1")) == "customers"
        }
        let table = try await browser.text(of: try await browser.element("main"))
        for column in ["customer_id", "email", "full_name", "country", "signed_up_on"] {
            #expect(table.contains(column), "column \(column)")
        }
    }
}

/// A test's own failure with a message that explains it.
struct QuickstartFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
