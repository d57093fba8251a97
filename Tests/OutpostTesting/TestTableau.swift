import Foundation

/// The project's fake Tableau server (`Tests/tools/fake_tableau`: REST sign-in and lists, the Metadata API answered by
/// graphql-core over a schema written from Tableau's reference), one per test: each test starts its own with the site
/// and faults it needs (start-up takes well under a second) and stops it with `stop()` or when it is released (it also
/// exits when its stdin closes, so a crashed test leaves nothing running).
///
/// `Tests/tools/test.sh` exports `OUTPOST_TEST_FAKE_TABLEAU` and `OUTPOST_TEST_FAKE_TABLEAU_PYTHON`; by hand the
/// `python3` on the PATH, with graphql-core installed, will do. A test that needs the fake fails when it cannot start, never
/// skips.
public final class TestTableau: @unchecked Sendable {
    // Set once in init and only read afterwards.
    private let process: Process
    private let input: Pipe
    public let port: Int
    /// `http://127.0.0.1:PORT`, for a source URL's `endpoint=`.
    public let endpoint: String

    /// The hostile site: `Tests/tools/fake_tableau/sites/hostile.json`.
    public static var hostileSite: String {
        BuildProducts.repositoryRoot + "/Tests/tools/fake_tableau/sites/hostile.json"
    }
    /// Its site content URL and its first personal access token.
    public static let hostileContentURL = "outpost-hostile"
    public static let patName = "outpost-pat"
    public static let patSecret = "s3cr3t/+=pat"

    /// Starts a fake serving `siteFile` (or a generated site, `generate: "workbooks=…"`), with extra options such as
    /// `["--max-page-size", "3", "--fault", "node-limit@5"]`.
    public init(siteFile: String? = hostileSite, generate: String? = nil, options: [String] = []) throws {
        let environment = ProcessInfo.processInfo.environment
        let root = BuildProducts.repositoryRoot
        let python = environment["OUTPOST_TEST_FAKE_TABLEAU_PYTHON"]
        let server = environment["OUTPOST_TEST_FAKE_TABLEAU"] ?? root + "/Tests/tools/fake_tableau/server.py"
        guard python.map({ FileManager.default.isExecutableFile(atPath: $0) }) ?? true,
            FileManager.default.fileExists(atPath: server)
        else {
            throw TestPostgres.Unavailable(
                description:
                    "the fake Tableau server cannot run (\(python ?? "python3"), \(server)): run Tests/tools/test.sh")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: python ?? "/usr/bin/env")
        var arguments = (python == nil ? ["python3"] : []) + [server, "--port", "0", "--exit-on-stdin-eof"]
        if let siteFile { arguments += ["--site-file", siteFile] }
        if let generate { arguments += ["--generate", generate] }
        process.arguments = arguments + options
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null") ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TestPostgres.Unavailable(description: "cannot start the fake Tableau server: \(error)")
        }
        let port: Int
        do {
            port = try FakeServerReadiness.port(from: output.fileHandleForReading, name: "the fake Tableau server")
        } catch {
            process.terminate()
            throw error
        }
        self.port = port
        self.endpoint = "http://127.0.0.1:\(port)"
    }

    deinit { stop() }

    /// Stops the fake.
    public func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    /// A `tableau://` URL of the fake's site, through its endpoint.
    public func sourceURL(site: String = hostileContentURL, parameters: String = "") -> String {
        "tableau://tableau.example.test/\(site)?endpoint=\(endpoint)\(parameters)"
    }

    /// The fake's statistics (`GET /_fake/stats`).
    public func stats() throws -> [String: Any] {
        let result = try ChildProcess.run(
            "/usr/bin/env", ["curl", "-sS", "--fail", "--max-time", "30", endpoint + "/_fake/stats"])
        guard result.status == 0, let data = result.standardOutput.data(using: .utf8),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw TestPostgres.Unavailable(description: "the fake's stats failed: \(result.standardError)")
        }
        return object
    }
}
