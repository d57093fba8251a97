import Foundation
import OutpostTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `outpost agent` as a real child process, its stderr kept in a file, for tests of signals and restarts.
final class AgentProcess: @unchecked Sendable {
    // `process` is set once in init and then only read.
    private let process: Process
    let logPath: String

    init(
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

    var pid: Int32 { process.processIdentifier }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil if it is still running after `limit`.
    func waitForExit(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension AgentSetup {
    /// Writes the configuration to a file beside the data dir; returns its path.
    func writeConfiguration() throws -> String {
        let path = directory.path + "/agent.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A secret command for `secretStores.commands` that takes `seconds` before answering, so a job lasts a while.
func slowSecretCommand(name: String = "slow", seconds: Int, value: String = "not-a-real-password") -> String {
    """
    secretStores:
      commands:
        \(name):
          path: /bin/sh
          args: ["-c", "sleep \(seconds); echo \(value)"]
          timeout: 120s
    """
}
