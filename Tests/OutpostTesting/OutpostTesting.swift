// Helpers shared by the test targets: real child processes, a real PostgreSQL reached through
// OUTPOST_TEST_POSTGRES_URL, temporary directories, and a sink that collects records in memory.

import Foundation
public import Metadata

/// A `RecordSink` that keeps every record, for tests over small catalogs.
public final class CollectingSink: RecordSink {
    public private(set) var records: [MetadataRecord] = []

    public init() {}

    public func write(_ record: MetadataRecord) throws {
        records.append(record)
    }

    /// The records of one kind.
    public func records(of kind: RecordKind) -> [MetadataRecord] {
        records.filter { $0.kind == kind }
    }

    /// The record with this rendered qualified name, if any.
    public func record(_ qualifiedName: String) -> MetadataRecord? {
        records.first { $0.qualifiedName.description == qualifiedName }
    }
}

/// A temporary directory removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        let base = FileManager.default.temporaryDirectory.path
        let path = base + "/outpost-test-" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `contents` (a script with its `#!` line) to `name` in this directory, mode 0700; returns its path.
    public func executable(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: file)
        return file
    }
}

/// The outcome of a child process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
}

/// JSON a reference script prints: a vendor SDK's signatures for fixed inputs, computed in the test run by the
/// Python that test.sh names in `variable` (a fake's venv, where the SDK is installed).
///
/// - Throws: `TestPostgres.Unavailable` when the variable is unset or the script fails: a failure, never a skip.
public func referenceVectors<Vectors: Decodable>(
    _ type: Vectors.Type, script: String, python variable: String
) throws -> Vectors {
    guard let python = ProcessInfo.processInfo.environment[variable], !python.isEmpty else {
        throw TestPostgres.Unavailable(description: "\(variable) names the Python for \(script) (test.sh sets it)")
    }
    let result = try ChildProcess.run(python, [BuildProducts.repositoryRoot + "/" + script])
    guard result.status == 0 else {
        throw TestPostgres.Unavailable(description: "\(script) failed: \(result.standardError)")
    }
    return try JSONDecoder().decode(type, from: Data(result.standardOutput.utf8))
}

/// Runs executables as real child processes.
public enum ChildProcess {
    /// Runs `executable` with `arguments`, feeding `input` on stdin, and waits for it.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
        currentDirectory: String? = nil
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot fill one and block.
        let errorData = LockedData()
        let reader = Thread { errorData.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        return ProcessResult(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData.value, as: UTF8.self))
    }

    /// `run` on a thread of its own, for tests whose in-process servers must keep answering meanwhile: waiting
    /// for the child blocks a thread, and blocking one of the few threads Swift's concurrency pool has can starve
    /// the very server the child is talking to.
    public static func runOffPool(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
        currentDirectory: String? = nil
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        try run(
                            executable, arguments, environment: environment, input: input,
                            currentDirectory: currentDirectory)
                    })
            }.start()
        }
    }

    /// The full path of a program on PATH, or nil.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

private final class LockedData: @unchecked Sendable {
    // Guarded by `lock`; written once by the reader thread, read by the waiting thread.
    private let lock = NSLock()
    private var data = Data()
    private var done = false

    func set(_ value: Data) {
        lock.lock()
        data = value
        done = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return done
    }

    var value: Data {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}

/// Where the built `outpost` executable and the repository live.
public enum BuildProducts {
    /// The directory holding the test bundle, where SwiftPM also puts the `outpost` executable.
    public static var productsDirectory: String {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("outpost").path) {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    public static var outpost: String { productsDirectory + "/outpost" }

    /// The repository root (the folder holding Package.swift).
    public static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url = url.deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
        }
        return FileManager.default.currentDirectoryPath
    }
}
