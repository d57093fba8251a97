import Foundation
import OutpostTesting

/// Runs the built `outpost` binary as a child process, as a user would.
enum OutpostCLI {
    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "PGPASSWORD")
        environment.removeValue(forKey: "OUTPOST_TEST_POSTGRES_URL")
        environment.merge(extra) { $1 }
        return try ChildProcess.run(BuildProducts.outpost, arguments, environment: environment)
    }

    /// Runs `outpost` under a wrapper that reports the child's peak resident set size in KiB.
    static func runMeasuringMemory(
        _ arguments: [String], environment extra: [String: String] = [:]
    ) throws -> (
        ProcessResult, Int
    ) {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { $1 }
        let script = """
            import resource, subprocess, sys
            r = subprocess.run(sys.argv[1:])
            print("peak-rss-kib", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
            sys.exit(r.returncode)
            """
        let result = try ChildProcess.run(
            "/usr/bin/env", ["python3", "-c", script, BuildProducts.outpost] + arguments, environment: environment)
        let line = result.standardError.split(separator: "\n").last { $0.hasPrefix("peak-rss-kib ") }
        return (result, Int(line?.split(separator: " ").last ?? "") ?? -1)
    }

    /// Validates an extraction folder with the repository's JSON Schemas through an external validator
    /// (Python `jsonschema`), and checks every file's checksum, size and record count against the manifest.
    static func validate(extraction folder: String) throws -> ProcessResult {
        let root = BuildProducts.repositoryRoot
        return try ChildProcess.run(
            "/usr/bin/env", ["python3", root + "/Tests/tools/validate_extraction.py", root + "/schemas", folder])
    }
}
