import Foundation
import OutpostTesting
import Testing

@Suite("outpost quickstart", .serialized)
struct QuickstartCommandTests {
    /// Runs the quickstart until it reports its first run, returns its stdout, then stops it with Ctrl-C.
    func runQuickstart(dataDir: String, port: Int, cwd: String) async throws -> (output: String, status: Int32?) {
        // Relative, as the default `./outpost-quickstart` is: job processes must still find the spool.
        let quickstart = try QuickstartProcess(dataDir: dataDir, port: port, cwd: cwd)
        _ = try await quickstart.waitUntilReady(within: .seconds(60))
        let text = quickstart.output
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
    }
}
