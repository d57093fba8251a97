import Foundation
import OutpostTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `outpost quickstart` as a real child process, as a user starts it: its stdout and stderr in files, stopped with
/// Ctrl-C (SIGINT). Killed with SIGKILL when released, so a failing test leaves no quickstart behind.
final class QuickstartProcess: @unchecked Sendable {
    // `process` is set once in init and then only read.
    private let process: Process
    private let directory: TemporaryDirectory
    let port: Int

    /// Starts `outpost quickstart --data-dir DATA_DIR --listen 127.0.0.1:PORT [ARGUMENTS]` in `cwd`, with
    /// `dataDir` given relative to `cwd` when it lies inside it (as the default `./outpost-quickstart` is).
    init(dataDir: String, port: Int, cwd: String, arguments: [String] = []) throws {
        directory = try TemporaryDirectory()
        self.port = port
        let outputPath = directory.path + "/stdout"
        let errorPath = directory.path + "/stderr"
        for path in [outputPath, errorPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: BuildProducts.outpost)
        let relative = dataDir.hasPrefix(cwd + "/") ? String(dataDir.dropFirst(cwd.count + 1)) : dataDir
        process.arguments = ["quickstart", "--data-dir", relative, "--listen", "127.0.0.1:\(port)"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var outputPath: String { directory.path + "/stdout" }
    var errorPath: String { directory.path + "/stderr" }
    /// What it printed on stdout so far.
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    /// What it printed on stderr so far (notices, warnings, errors).
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Waits until the quickstart reported its first run ("Press Ctrl-C to stop."); false when it exited or
    /// `limit` passed first.
    func waitUntilReady(within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if output.contains("Press Ctrl-C to stop.") { return true }
            guard process.isRunning else { return false }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The web UI's address and the admin key, as the quickstart printed them.
    var printed: (ui: String, adminKey: String)? {
        func value(after label: String) -> String? {
            guard let line = output.split(separator: "\n").first(where: { $0.contains(label) }) else { return nil }
            return line.components(separatedBy: label).last?.split(separator: " ").first.map(String.init)
        }
        guard let ui = value(after: "Web UI:"), let key = value(after: "Admin key:") else { return nil }
        return (ui, key)
    }

    /// Sends SIGINT, as Ctrl-C in its terminal does, and waits for it to exit; its status, or nil if it still runs
    /// after `limit`.
    func interrupt(within limit: Duration = .seconds(30)) async throws -> Int32? {
        kill(process.processIdentifier, SIGINT)
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
