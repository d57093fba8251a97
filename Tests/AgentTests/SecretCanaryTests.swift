import Agent
import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("A source secret never leaves the job", .serialized)
struct SecretCanaryTests {
    static let canary = "CANARY-pw-7f3e9b21d4c8a605"

    @Test func aPasswordFromSecretsManagerIsInNothingTheControlPlaneStoredOrTheAgentWrote() async throws {
        let postgres = try TestPostgres()
        let moto = try TestMoto()
        try moto.boto3(
            "client('secretsmanager').create_secret(Name='prod/pg', "
                + "SecretString=json.dumps({'password': '\(Self.canary)'}))")
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            // The canary is the wrong password for the test server: the job resolves it, tries it, and fails.
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "canary", sourceKind: "postgresql",
                    sourceURL: "postgres://\(postgres.user)@127.0.0.1:\(postgres.port)/postgres",
                    secrets: ["password": "aws-sm:prod/pg#password"]))
            let run = try await controlPlane.runNow(connection.id)
            var environment = ProcessInfo.processInfo.environment
            environment.merge(moto.environment()) { $1 }
            environment["PGPASSWORD"] = nil
            try await withAgent(setup, environment: environment) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .failed)
                #expect(finished.error?.contains(Self.canary) == false)
            }
            let log = try await controlPlane.log(run.id)
            #expect(log.contains("job.secret_resolved"), "\(log)")
            #expect(!log.contains(Self.canary))
            for file in try Self.files(under: controlPlane.directory.path) + Self.files(under: setup.directory.path) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                #expect(bytes.range(of: Data(Self.canary.utf8)) == nil, "the canary is in \(file)")
                #expect(
                    bytes.range(of: Data(Data(Self.canary.utf8).base64EncodedString().utf8)) == nil,
                    "the canary's base64 is in \(file)")
            }
        }
    }

    /// Expects `secret`, plain and in base64, in no file under `roots`.
    static func expectNowhere(
        _ secret: String, under roots: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let forms = [Data(secret.utf8), Data(Data(secret.utf8).base64EncodedString().utf8)]
        for file in try roots.flatMap(files(under:)) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for form in forms {
                #expect(bytes.range(of: form) == nil, "a secret is in \(file)", sourceLocation: sourceLocation)
            }
        }
    }

    static func files(under root: String) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var files: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            var directory: ObjCBool = false
            let path = root + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &directory), !directory.boolValue {
                files.append(path)
            }
        }
        return files
    }
}

/// Snowflake through the agent. In the agent-runs suite, which is serialized, because its tests count and kill the
/// test process's job processes.
extension AgentRunTests {
    @Test func aKeyFromAFileSecretExtractsThroughTheAgentAndIsInNothingItWroteOrSent() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let keys = try TemporaryDirectory()
        let keyFile = keys.path + "/snowflake-key.pem"
        try Data(SnowflakeTestKeys.plainPKCS8.utf8).write(to: URL(fileURLWithPath: keyFile))
        // Every line of the key's body is a canary.
        let canaries = SnowflakeTestKeys.plainPKCS8.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(
            String.init)
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "warehouse", sourceKind: "snowflake",
                    sourceURL: "snowflake://outpost_svc@myorg-myacct/SHARED_DB?warehouse=OUTPOST_WH&role=OUTPOST_RO"
                        + "&endpoint=\(fake.endpoint)",
                    secrets: ["privateKey": "file:\(keyFile)"]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            let log = try await controlPlane.log(run.id)
            #expect(log.contains("job.secret_resolved"), "\(log)")
            #expect(log.contains("snowflake.extraction.usage"), "\(log)")
            for canary in canaries { #expect(!log.contains(canary)) }
            for file in try SecretCanaryTests.files(under: controlPlane.directory.path)
                + SecretCanaryTests.files(under: setup.directory.path)
            {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                for canary in canaries {
                    #expect(bytes.range(of: Data(canary.utf8)) == nil, "a line of the key is in \(file)")
                }
            }
            // The statements carried the run in their query tag.
            let tags = try fake.statements().compactMap { $0["queryTag"] as? String }
            #expect(
                !tags.isEmpty && tags.allSatisfy { $0.contains("run=\(run.id)") && $0.contains("connection=warehouse") }
            )
        }
    }

    @Test func cancellingTheRunCancelsItsRunningStatementOnSnowflake() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        try fake.control("/fake/config", post: #"{"sync_wait_ms": 50}"#)
        try fake.control(
            "/fake/slow", post: #"{"slow_ms": 0, "rules": [{"pattern": "INFORMATION_SCHEMA.COLUMNS", "ms": 30000}]}"#)
        let keys = try TemporaryDirectory()
        let keyFile = keys.path + "/snowflake-key.pem"
        try Data(SnowflakeTestKeys.plainPKCS8.utf8).write(to: URL(fileURLWithPath: keyFile))
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "warehouse", sourceKind: "snowflake",
                    sourceURL: "snowflake://outpost_svc@myorg-myacct/SHARED_DB?warehouse=OUTPOST_WH"
                        + "&endpoint=\(fake.endpoint)",
                    secrets: ["privateKey": "file:\(keyFile)"]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup) { _ in
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let running = try fake.statements().contains {
                        ($0["statement"] as? String)?.contains("COLUMNS") == true
                            && ($0["status"] as? String) == "running"
                    }
                    if running { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await controlPlane.cancel(run.id)
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .cancelled)
            }
            let columns = try #require(
                try fake.statements().first { ($0["statement"] as? String)?.contains("COLUMNS") == true })
            #expect(columns["status"] as? String == "cancelled", "\(columns)")
        }
    }
}
