import Foundation
internal import Synchronization

/// The project's fake Snowflake SQL API v2 server (`Tests/tools/fake_snowflake`, fakesnow inside), one per test
/// process, shared by every test that needs it and stopped when the process ends (it exits when its stdin closes).
///
/// It needs the fake's venv: `Tests/tools/test.sh` sets it up and exports `OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON`; by
/// hand, `bash Tests/tools/fake_snowflake/setup.sh`. A test that needs the fake fails when it cannot start, never
/// skips. The fake's state (faults, slowness, partition sizes, recorded statements) is global and every test target
/// runs in the same process, so a test takes it with `exclusive()` (which also resets it) and gives it back with
/// `release()`.
public final class TestSnowflake: @unchecked Sendable {
    // `process` and `input` are set once in init and only read afterwards.
    private let process: Process
    private let input: Pipe
    public let port: Int
    /// `http://127.0.0.1:PORT`, for a source URL's `endpoint=`.
    public let endpoint: String
    /// The account the fake serves.
    public static let account = "MYORG-MYACCT"
    /// The catalog definition it serves: `Tests/Fixtures/snowflake-catalog.json`.
    public static var catalogPath: String { BuildProducts.repositoryRoot + "/Tests/Fixtures/snowflake-catalog.json" }
    /// Rows per result partition: small, so that every non-trivial result has several partitions.
    public static let partitionRows = 3

    private static let instance = Mutex<Result<TestSnowflake, TestPostgres.Unavailable>?>(nil)
    private static let gate = ExclusiveGate()

    /// The shared fake, reset, for this test alone until `release()`.
    public static func exclusive() async throws -> TestSnowflake {
        // Starting the fake takes seconds and callers wait on a lock meanwhile: on a thread of its own, so the
        // concurrency pool (a thread per core) keeps serving every other test.
        let fake = try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try shared() }) }.start()
        }
        await gate.acquire()
        do {
            try fake.reset()
        } catch {
            gate.release()
            throw error
        }
        return fake
    }

    /// Lets the next test waiting in `exclusive()` have the fake.
    public func release() { Self.gate.release() }

    /// The shared fake, started on first use (use `exclusive()` in tests).
    static func shared() throws -> TestSnowflake {
        try instance.withLock { state in
            if let state { return try state.get() }
            let result = Result { () throws(TestPostgres.Unavailable) -> TestSnowflake in try TestSnowflake() }
            state = result
            return try result.get()
        }
    }

    private init() throws(TestPostgres.Unavailable) {
        let environment = ProcessInfo.processInfo.environment
        let root = BuildProducts.repositoryRoot
        let python =
            environment["OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON"] ?? root + "/.build/fake-snowflake-venv/bin/python"
        let server = environment["OUTPOST_TEST_FAKE_SNOWFLAKE"] ?? root + "/Tests/tools/fake_snowflake/server.py"
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: server)
        else {
            throw TestPostgres.Unavailable(
                description:
                    "the fake Snowflake server is not set up (\(python), \(server)): run "
                    + "`bash Tests/tools/fake_snowflake/setup.sh` and export OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON, or "
                    + "run Tests/tools/test.sh")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            server, "--catalog", Self.catalogPath, "--account", Self.account, "--port", "0", "--partition-rows",
            String(Self.partitionRows), "--physical", "none", "--sync-wait-ms", "2000", "--jwt-leeway-seconds", "60",
            "--exit-on-stdin-eof",
        ]
        input = Pipe()
        let output = Pipe()
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = input
        process.standardOutput = output
        process.standardError = log ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TestPostgres.Unavailable(description: "cannot start the fake Snowflake server: \(error)")
        }
        let port: Int
        do {
            port = try FakeServerReadiness.port(
                from: output.fileHandleForReading, name: "the fake Snowflake server", within: 90)
        } catch {
            process.terminate()
            throw error
        }
        self.port = port
        self.endpoint = "http://127.0.0.1:\(port)"
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.terminate()
    }

    /// Calls the fake's control API (`/fake/…`); returns the decoded JSON answer.
    @discardableResult
    public func control(_ path: String, post body: String? = nil) throws -> Any {
        var arguments = ["-sS", "--fail", "--max-time", "30", endpoint + path]
        if let body { arguments += ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try ChildProcess.run("/usr/bin/env", ["curl"] + arguments)
        guard result.status == 0, let data = result.standardOutput.data(using: .utf8) else {
            throw TestPostgres.Unavailable(
                description: "the fake's control API failed on \(path): \(result.standardError)")
        }
        return try JSONSerialization.jsonObject(with: data)
    }

    /// Forgets statements, counters and faults, and puts partition size, slowness and limits back to the start-up
    /// values.
    public func reset() throws {
        try control("/fake/reset", post: "{}")
        try control(
            "/fake/config",
            post: #"{"partition_rows": \#(Self.partitionRows), "info_schema_max_rows": 0, "sync_wait_ms": 2000}"#)
        try control("/fake/slow", post: #"{"slow_ms": 0, "rules": []}"#)
    }

    /// The statements the fake received since the last reset (`/fake/stats` → `statements`).
    public func statements() throws -> [[String: Any]] {
        let stats = try control("/fake/stats") as? [String: Any]
        return stats?["statements"] as? [[String: Any]] ?? []
    }
}

/// The start-up contract of the project's fake servers (`Tests/tools/fake_serving.py`): once ready, a fake prints
/// exactly one line on stdout, `LISTENING http://127.0.0.1:PORT`.
enum FakeServerReadiness {
    /// The port of the readiness line read from `output`.
    ///
    /// - Throws: `TestPostgres.Unavailable` when the first line is something else or does not come in time.
    static func port(
        from output: FileHandle, name: String, within seconds: Double = 60
    ) throws(TestPostgres.Unavailable)
        -> Int
    {
        var line: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let byte = output.readData(ofLength: 1)
            guard let first = byte.first, first != UInt8(ascii: "\n") else { break }
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("LISTENING "), let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...])
        else {
            throw TestPostgres.Unavailable(description: "\(name) did not start (its first line was '\(text)')")
        }
        return port
    }
}

/// A first-come, first-served lock for async code whose release is synchronous (callable from `defer`).
final class ExclusiveGate: Sendable {
    private let state = Mutex<(locked: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
