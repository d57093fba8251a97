// A Snowflake connection as an admin creates it in the web UI (headless Chromium over WebDriver): the form refuses a
// password secret with the reason, takes the private key by reference, and the run it starts is executed by a real
// agent against the fake Snowflake SQL API; the account's tables are then in the catalog.

import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostTesting
import Testing

@Suite("A Snowflake connection through the web UI", .serialized)
struct SnowflakeBrowserTests {
    @Test(.timeLimit(.minutes(3)))
    func anAdminCreatesASnowflakeConnectionInTheFormAndItsRunFillsTheCatalog() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let keys = try TemporaryDirectory()
        let keyFile = keys.path + "/snowflake-key.pem"
        try Data(SnowflakeTestKeys.plainPKCS8.utf8).write(to: URL(fileURLWithPath: keyFile))
        let screenshots = try ScreenshotFolder()
        try await withControlPlane { controlPlane in
            let ui = controlPlane.url + "/ui"
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            try await ChromeDriver.withSession { browser in
                try await browser.navigate(to: ui)
                try await browser.type(controlPlane.adminKey, into: try await browser.element("#key"))
                try await browser.click(try await browser.element("form.stacked button[type=submit]"))
                try await browser.wait("the overview") { try await browser.currentURL() == ui }

                // A password is not a Snowflake secret: the form comes back with the reason and keeps what was typed.
                let sourceURL =
                    "snowflake://outpost_svc@myorg-myacct/SALES?warehouse=OUTPOST_WH&role=OUTPOST_RO&endpoint="
                    + fake.endpoint
                try await browser.navigate(to: ui + "/connections/new")
                try await browser.type("warehouse", into: try await browser.element("#name"))
                try await browser.click(try await browser.element("#sourceKind option[value=snowflake]"))
                try await browser.type(sourceURL, into: try await browser.element("#sourceURL"))
                try await browser.type("password = file:\(keyFile)", into: try await browser.element("#secrets"))
                try await browser.click(try await browser.element("form.stacked button[type=submit]"))
                try await browser.wait("the form's error") {
                    (try? await browser.text(of: try await browser.element("p.notice.bad")))?.contains("privateKey")
                        == true
                }
                let notice = try await browser.text(of: try await browser.element("p.notice.bad"))
                #expect(notice.contains("secrets.password"), "\(notice)")
                #expect(
                    try await browser.execute("return document.getElementById('sourceURL').value") as? String
                        == sourceURL)
                #expect(try await controlPlane.store.connections(tenantId: controlPlane.tenant.id).isEmpty)
                try await screenshots.take("1-refused-password", browser)

                // The private key by reference: the connection is created with it.
                _ = try await browser.execute("document.getElementById('secrets').value = ''")
                try await browser.type("privateKey = file:\(keyFile)", into: try await browser.element("#secrets"))
                try await browser.click(try await browser.element("form.stacked button[type=submit]"))
                try await browser.wait("the connection page") {
                    try await browser.currentURL().hasPrefix(ui + "/connections/con_")
                }
                let connection = try #require(
                    try await controlPlane.store.connections(tenantId: controlPlane.tenant.id).first)
                #expect(connection.sourceKind == "snowflake")
                #expect(connection.secrets == ["privateKey": "file:\(keyFile)"])
                let page = try await browser.text(of: try await browser.element("main"))
                #expect(page.contains("file:\(keyFile)"), "\(page)")
                try await screenshots.take("2-connection", browser)

                // Run now; the agent extracts the account and the live view shows the run succeed.
                try await browser.click(try await browser.element(".toolbar form.inline button"))
                try await browser.wait("the run page") { try await browser.currentURL().contains("/ui/runs/run_") }
                try await withAgent(setup) { _ in
                    try await browser.wait("the run to succeed in the live view", timeout: .seconds(60)) {
                        let status = try await browser.text(of: try await browser.element("#run-status"))
                        if ["failed", "cancelled"].contains(status) {
                            throw TestFailure("the Snowflake run \(status)")
                        }
                        return status == "succeeded"
                    }
                }
                let log = try await browser.text(of: try await browser.element("#log"))
                #expect(log.contains("snowflake.extraction.usage"), "\(log)")
                try await screenshots.take("3-run", browser)

                // The account's CUSTOMERS table is in the catalog with its columns.
                try await browser.navigate(to: ui + "/catalog")
                try await browser.type("CUSTOMERS", into: try await browser.element("#q"))
                try await browser.click(try await browser.element("select[name=kind] option[value=table]"))
                try await browser.click(try await browser.element("form[role=search] button"))
                try await browser.wait("search results") { try await browser.currentURL().contains("kind=table") }
                let found = try await browser.elements("tbody td:first-child > a")
                #expect(found.count == 1)
                try await browser.click(try #require(found.first))
                try await browser.wait("the CUSTOMERS page") {
                    try await browser.text(of: try await browser.element("h1")) == "CUSTOMERS"
                }
                let table = try await browser.text(of: try await browser.element("main"))
                for column in ["ID", "EMAIL", "BALANCE", "CREATED_TZ"] {
                    #expect(table.contains(column), "column \(column)")
                }
                try await screenshots.take("4-customers", browser)
            }
        }
        #expect(screenshots.taken == 4)
    }
}
