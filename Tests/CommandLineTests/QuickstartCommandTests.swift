import Foundation
import OutpostTesting
import Testing

@Suite("outpost quickstart", .serialized)
struct QuickstartCommandTests {
    /// Runs the quickstart until it reports its first run, returns its stdout, then stops it with Ctrl-C.
    /// `whileRunning` is given the admin API's address before the quickstart is stopped.
    func runQuickstart(
        dataDir: String, port: Int, cwd: String, arguments: [String] = [],
        whileRunning: (String) throws -> Void = { _ in }
    ) async throws -> (output: String, status: Int32?) {
        // Relative, as the default `./outpost-quickstart` is: job processes must still find the spool.
        let quickstart = try QuickstartProcess(dataDir: dataDir, port: port, cwd: cwd, arguments: arguments)
        _ = try await quickstart.waitUntilReady(within: .seconds(60))
        let text = quickstart.output
        try whileRunning("http://127.0.0.1:\(port)")
        return (text, try await quickstart.interrupt())
    }

    @Test func extractsTheSampleServesTheUIPrintsTheAdminKeyAndStopsOnCtrlCReusingItsDataDirNextTime() async throws {
        let directory = try TemporaryDirectory()
        let dataDir = directory.path + "/quickstart"
        let port = try FreePort.find()
        // From another directory than the repository: the sample is found beside the build.
        let first = try await runQuickstart(dataDir: dataDir, port: port, cwd: directory.path)
        #expect(first.output.contains("First run:  succeeded"), "\(first.output)")
        #expect(first.output.contains("5 tables, 3 views"))
        #expect(first.output.contains("http://127.0.0.1:\(port)/ui"))
        let adminKey = try String(contentsOfFile: dataDir + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.output.contains("Admin key:  \(adminKey)"))
        #expect(first.status == 0)
        let audit = try ChildProcess.run(BuildProducts.outpost, ["audit", "verify", "--data-dir", dataDir + "/agent"])
        #expect(audit.status == 0, "\(audit.standardOutput)\(audit.standardError)")

        let second = try await runQuickstart(dataDir: dataDir, port: port, cwd: directory.path)
        #expect(second.output.contains("First run:  succeeded"), "\(second.output)")
        #expect(second.output.contains("Admin key:  \(adminKey)"))
        #expect(second.status == 0)
        // The same connection ran twice; the catalog was replaced, not duplicated.
        #expect(second.output.contains("5 tables, 3 views"))

        // Another source in the same folder gets a connection of its own, named after it; the sample's stays.
        let other = directory.path + "/orders archive.db"
        try FileManager.default.copyItem(
            atPath: BuildProducts.repositoryRoot + "/Samples/shop.db", toPath: other)
        // A connection the user registers with the running quickstart runs too: its agent approves the source
        // of a connection of its own control plane, and nothing else.
        let registered = directory.path + "/registered.db"
        try FileManager.default.copyItem(
            atPath: BuildProducts.repositoryRoot + "/Samples/shop.db", toPath: registered)
        var names: [String] = []
        var registeredRun: [String: Any] = [:]
        let third = try await runQuickstart(
            dataDir: dataDir, port: port, cwd: directory.path, arguments: ["--source", "sqlite:" + other]
        ) { server in
            func api(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
                var arguments = ["curl", "-sS", "-X", method, "-H", "Authorization: Bearer \(adminKey)"]
                if let body { arguments += ["-H", "Content-Type: application/json", "--data", body] }
                let response = try ChildProcess.run("/usr/bin/env", arguments + [server + path])
                return try JSONSerialization.jsonObject(with: Data(response.standardOutput.utf8)) as? [String: Any]
                    ?? [:]
            }
            let created = try api(
                "POST", "/v1/admin/connections",
                #"{"name":"added-later","sourceKind":"sqlite","sourceURL":"sqlite:\#(registered)"}"#)
            let connectionId = try #require(created["id"] as? String, "\(created)")
            let queued = try api("POST", "/v1/admin/connections/\(connectionId)/runs")
            let runId = try #require(queued["id"] as? String, "\(queued)")
            for _ in 0..<240 {
                registeredRun = try api("GET", "/v1/admin/runs/\(runId)")
                if ["succeeded", "partial", "failed", "cancelled"].contains(registeredRun["status"] as? String ?? "") {
                    break
                }
                Thread.sleep(forTimeInterval: 0.25)
            }
            let listed = try api("GET", "/v1/admin/connections")
            names = (listed["connections"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        }
        #expect(third.output.contains("First run:  succeeded"), "\(third.output)")
        #expect(registeredRun["status"] as? String == "succeeded", "\(registeredRun)")
        #expect(
            names.sorted() == ["added-later", "quickstart-orders-archive", "quickstart-sample"], "\(names)")
    }
}
