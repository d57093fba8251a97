public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `outpost agent` as a real child process, its stderr kept in a file, for tests of signals and restarts.
///
/// Killed with SIGKILL when released, so a failing test leaves no agent behind.
public final class AgentProcess: @unchecked Sendable {
    // `process` is set once in init and then only read.
    private let process: Process
    /// Where the agent's stderr goes.
    public let logPath: String

    /// Starts `outpost agent --config configPath` with its stderr written to `logPath`.
    public init(
        configPath: String, environment: [String: String] = ProcessInfo.processInfo.environment, logPath: String
    )
        throws
    {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: BuildProducts.outpost)
        process.arguments = ["agent", "--config", configPath]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
    }

    /// The agent's process id.
    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal` to the agent (not to its job processes, which have their own process group).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil if it is still running after `limit`.
    public func waitForExit(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// Everything the agent wrote to stderr so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
