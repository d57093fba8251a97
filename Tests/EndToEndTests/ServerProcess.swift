// The real `outpost server` as a child process on a fixed loopback port, which a test can stop (SIGTERM or
// SIGKILL) and start again on the same data, and an admin API client for it.

import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Foundation
import NIOCore
import NIOHTTP1
import OutpostProtocol
import OutpostTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `outpost server --listen 127.0.0.1:PORT --data-dir DIR …` as a child process.
///
/// Its stdout and stderr go to one log file that grows across restarts. Killed with SIGKILL when released, so a
/// failing test leaves no server behind.
final class ServerProcess: @unchecked Sendable {
    // `process` is only touched by start()/stop()/deinit, which a test calls one after another.
    private var process: Process?
    let directory: TemporaryDirectory
    let port: Int
    let arguments: [String]
    let environment: [String: String]

    /// - Parameters:
    ///   - arguments: more `outpost server` options (`--lease-ttl-seconds 6`, `--relay-endpoint …`).
    ///   - environment: the server's whole environment (`OUTPOST_DATABASE_URL`, AWS credentials for relay).
    ///   - port: the loopback port to listen on; a free one when nil.
    init(
        port: Int? = nil, arguments: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        directory = try TemporaryDirectory()
        self.port = try port ?? FreePort.find()
        self.arguments = arguments
        self.environment = environment
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var dataDirectory: String { directory.path + "/data" }
    var logPath: String { directory.path + "/server.log" }
    /// Everything the server printed so far, over all its starts.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The bootstrap admin key the first start wrote to DATA_DIR/admin.key.
    var adminKey: String {
        get throws {
            try String(contentsOfFile: dataDirectory + "/admin.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// An admin API client with the bootstrap admin key.
    var admin: AdminClient { get throws { AdminClient(url: url, key: try adminKey) } }

    /// Starts the server and waits until `/healthz` answers.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuildProducts.outpost)
        process.arguments =
            ["server", "--listen", "127.0.0.1:\(port)", "--data-dir", dataDirectory] + arguments
        process.environment = environment
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        output.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        // Generous: the whole suite starts at once on two cores, and the first minute is crowded.
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw EndToEndFailure("outpost server exited with \(process.terminationStatus): \(log)")
            }
            if FreePort.isListening(port), (try? await AdminClient(url: url, key: "").healthy()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw EndToEndFailure("outpost server did not answer /healthz within 90 s: \(log)")
    }

    /// Sends `signal` and waits for the server to exit; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async throws -> Int32 {
        guard let process else { return 0 }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw EndToEndFailure("outpost server did not stop within 30 s of signal \(signal)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        self.process = nil
        return process.terminationStatus
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// The admin API of a running server, as one API key sees it.
struct AdminClient: Sendable {
    let url: String
    let key: String

    /// The answer to one request: status and body.
    struct Answer: Sendable {
        var status: Int
        var body: Data
    }

    /// Sends one request with this key; any status is returned.
    func send(_ method: HTTPMethod, _ path: String, json: Data? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if !key.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(Array(json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView))
    }

    /// Sends one request and decodes a 2xx answer; anything else throws with the server's message.
    func call<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)? = nil as String?, as type: Response.Type
    ) async throws -> Response {
        let answer = try await send(method, path, json: try body.map { try JSONEncoder().encode($0) })
        guard (200..<300).contains(answer.status) else {
            throw EndToEndFailure(
                "\(method) \(path) answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
        return try JSONDecoder().decode(type, from: answer.body)
    }

    func healthy() async throws -> Bool {
        try await send(.GET, "/healthz").status == 200
    }

    /// Mints a key of this key's tenant; returns the key text (shown only once).
    func createKey(name: String, role: APIKey.Role) async throws -> String {
        try await call(
            .POST, "/v1/admin/keys", body: KeyCreateRequest(name: name, role: role, expiresAt: nil),
            as: KeyCreatedResponse.self
        ).key
    }

    func createConnection(_ request: ConnectionRequest) async throws -> ConnectionResponse {
        try await call(.POST, "/v1/admin/connections", body: request, as: ConnectionResponse.self)
    }

    func runNow(_ connectionId: String) async throws -> RunResponse {
        try await call(.POST, "/v1/admin/connections/\(connectionId)/runs", as: RunResponse.self)
    }

    func run(_ runId: String) async throws -> RunResponse {
        try await call(.GET, "/v1/admin/runs/\(runId)", as: RunResponse.self)
    }

    func runs() async throws -> [RunResponse] {
        try await call(.GET, "/v1/admin/runs?limit=500", as: RunList.self).runs
    }

    /// The whole stored log of a run, page by page.
    func log(_ runId: String) async throws -> String {
        var text = ""
        var from: Int64 = 0
        while true {
            let page = try await call(
                .GET, "/v1/admin/runs/\(runId)/logs?from=\(from)&limit=1000000", as: RunLogResponse.self)
            text += page.text
            if page.nextOffset >= page.totalBytes { return text }
            from = page.nextOffset
        }
    }

    /// Every published asset of a connection (at most 500, which the small test schemas stay far below).
    func catalog(connectionId: String) async throws -> [CatalogAssetSummary] {
        try await call(
            .GET, "/v1/admin/catalog/search?connectionId=\(connectionId)&limit=500", as: CatalogSearchResponse.self
        ).assets
    }

    /// One asset with its children.
    func asset(connectionId: String, kind: String, qualifiedName: String) async throws -> CatalogAssetResponse {
        let name = qualifiedName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? qualifiedName
        return try await call(
            .GET, "/v1/admin/catalog/assets?connectionId=\(connectionId)&kind=\(kind)&qualifiedName=\(name)",
            as: CatalogAssetResponse.self)
    }

    /// Waits until the run has finished (ingestion included).
    func finished(_ runId: String, within limit: Duration = .seconds(60)) async throws -> RunResponse {
        try await waitFor(runId, within: limit) { $0.status.isFinished }
    }

    /// Waits until `condition` holds for the run.
    func waitFor(
        _ runId: String, within limit: Duration = .seconds(30), _ condition: (RunResponse) -> Bool
    ) async throws -> RunResponse {
        let deadline = ContinuousClock.now + limit
        var last: RunResponse?
        while ContinuousClock.now < deadline {
            let run = try await run(runId)
            if condition(run) { return run }
            last = run
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EndToEndFailure(
            "run \(runId) did not reach the expected state within \(limit); last: \(String(describing: last))")
    }
}

/// A test's own failure with a message that explains it.
struct EndToEndFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
