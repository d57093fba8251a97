import Foundation
import OutpostTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("outpost quickstart", .serialized)
struct QuickstartCommandTests {
    /// Runs the quickstart until it reports its first run, returns its stdout, then stops it with Ctrl-C.
    func runQuickstart(dataDir: String, port: Int, cwd: String) async throws -> (output: String, status: Int32?) {
        let output = dataDir + ".out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuildProducts.outpost)
        // Relative, as the default `./outpost-quickstart` is: job processes must still find the spool.
        let relative = String(dataDir.dropFirst(cwd.count + 1))
        process.arguments = ["quickstart", "--data-dir", relative, "--listen", "127.0.0.1:\(port)"]
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = ContinuousClock.now + .seconds(60)
        var text = ""
        while ContinuousClock.now < deadline {
            text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if text.contains("Press Ctrl-C to stop.") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(process.processIdentifier, SIGINT)
        let stopDeadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < stopDeadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        return (text, process.isRunning ? nil : process.terminationStatus)
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
