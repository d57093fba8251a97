// `outpost agent --check` as a real child process against the real control plane: one line per check, exit 0 when
// all pass, and a FAIL line with exit status 1 for an unreadable key file, an unreachable control plane or an
// egress host that does not resolve.

import ControlPlane
import ControlPlaneStorage
import Foundation
import OutpostTesting
import Testing

@Suite("outpost agent --check", .serialized)
struct AgentCheckTests {
    /// Runs `outpost agent --check` with the setup's configuration; its exit status and stdout lines.
    static func check(
        _ setup: AgentSetup, _ arguments: [String] = [], environment extra: [String: String] = [:]
    ) throws -> (status: Int32, lines: [String], standardError: String) {
        let result = try ChildProcess.run(
            BuildProducts.outpost, ["agent", "--config", try setup.writeConfiguration(), "--check"] + arguments,
            environment: environmentWithoutProxies.merging(extra) { $1 })
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        return (result.status, lines, result.standardError)
    }

    @Test func everyCheckPassesAgainstALiveControlPlane() async throws {
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [localhost]")
            let result = try Self.check(setup)
            #expect(result.status == 0, "\(result.lines) \(result.standardError)")
            #expect(!result.lines.isEmpty)
            for line in result.lines { #expect(line.hasPrefix("ok  "), "\(line)") }
            for name in ["data dir", "api key", "control plane", "egress host localhost", "policy"] {
                #expect(
                    result.lines.contains { $0.hasPrefix("ok   \(name):") }, "no passing \(name) line: \(result.lines)")
            }
            #expect(result.lines.contains { $0.contains("key accepted") })
            // The check is a heartbeat: the control plane now knows the agent.
            #expect(try await controlPlane.store.agents(tenantId: controlPlane.tenant.id).count == 1)
        }
    }

    @Test func anUnreadableKeyFileAnUnreachableControlPlaneAndAnUnresolvableHostEachFailWithStatusOne() async throws {
        try await withControlPlane { controlPlane in
            // The key file is a directory: unreadable as a file even for root.
            let unreadableKey = try AgentSetup(controlPlane: controlPlane)
            try FileManager.default.removeItem(atPath: unreadableKey.keyFile)
            try FileManager.default.createDirectory(atPath: unreadableKey.keyFile, withIntermediateDirectories: false)
            let keyResult = try Self.check(unreadableKey)
            #expect(keyResult.status == 1, "\(keyResult.lines) \(keyResult.standardError)")
            #expect(keyResult.lines.contains { $0.hasPrefix("FAIL api key:") }, "\(keyResult.lines)")
            #expect(keyResult.lines.contains { $0.hasPrefix("ok   data dir:") }, "\(keyResult.lines)")

            let closedPort = try FreePort.find()
            var unreachable = try AgentSetup(controlPlane: controlPlane)
            unreachable.yaml = unreachable.yaml.replacingOccurrences(
                of: controlPlane.url, with: "http://127.0.0.1:\(closedPort)")
            let reachResult = try Self.check(unreachable)
            #expect(reachResult.status == 1, "\(reachResult.lines) \(reachResult.standardError)")
            #expect(
                reachResult.lines.contains { $0.hasPrefix("FAIL control plane:") && $0.contains("\(closedPort)") },
                "\(reachResult.lines)")
            #expect(reachResult.lines.contains { $0.hasPrefix("ok   api key:") }, "\(reachResult.lines)")

            let unresolvable = try AgentSetup(
                controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"no-such-host.invalid:443\"]")
            let hostResult = try Self.check(unresolvable)
            #expect(hostResult.status == 1, "\(hostResult.lines) \(hostResult.standardError)")
            #expect(
                hostResult.lines.contains {
                    $0 == "FAIL egress host no-such-host.invalid:443: no-such-host.invalid does not resolve"
                },
                "\(hostResult.lines)")
            #expect(hostResult.lines.contains { $0.hasPrefix("ok   control plane:") }, "\(hostResult.lines)")
        }
    }

    @Test func aSnowflakeSourceIsReachedAsAJobWouldReachItAndItsKeyStaysOutOfTheOutput() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let keys = try TemporaryDirectory()
        let keyFile = keys.path + "/snowflake-key.pem"
        let otherKeyFile = keys.path + "/other-key.pem"
        try Data(SnowflakeTestKeys.plainPKCS8.utf8).write(to: URL(fileURLWithPath: keyFile))
        try Data(SnowflakeTestKeys.otherKey.utf8).write(to: URL(fileURLWithPath: otherKeyFile))
        let canaries = (SnowflakeTestKeys.plainPKCS8 + "\n" + SnowflakeTestKeys.otherKey).split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }.map(String.init)
        let source =
            "snowflake://outpost_svc@myorg-myacct/SHARED_DB?warehouse=OUTPOST_WH&role=OUTPOST_RO&endpoint=\(fake.endpoint)"
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            try fake.reset()
            let passing = try Self.check(setup, ["--source", source, "--secret", "privateKey=file:\(keyFile)"])
            #expect(passing.status == 0, "\(passing.lines) \(passing.standardError)")
            let line = try #require(
                passing.lines.first { $0.hasPrefix("ok   source snowflake://") }, "\(passing.lines)")
            #expect(line.contains("authenticated at"), "\(line)")
            #expect(line.contains("SHARED_DB is among the"), "\(line)")
            #expect(line.contains("snowflake://*@MYORG-*"), "the rule that allows it: \(line)")
            // SHOW DATABASES only: no warehouse ran.
            let statements = try fake.statements()
            #expect(statements.count == 1, "\(statements)")

            let wrongKey = try Self.check(setup, ["--source", source, "--secret", "privateKey=file:\(otherKeyFile)"])
            #expect(wrongKey.status == 1)
            #expect(
                wrongKey.lines.contains {
                    $0.hasPrefix("FAIL source snowflake://") && $0.contains("refused the credentials")
                },
                "\(wrongKey.lines)")

            let otherAccount = try Self.check(
                setup,
                [
                    "--source", "snowflake://svc@otherorg-acct?endpoint=\(fake.endpoint)", "--secret",
                    "privateKey=file:\(keyFile)",
                ])
            #expect(otherAccount.status == 1)
            #expect(
                otherAccount.lines.contains {
                    $0.hasPrefix("FAIL source snowflake://") && $0.contains("a job would be refused")
                },
                "\(otherAccount.lines)")

            let unknownRole = try Self.check(setup, ["--source", source, "--secret", "passwd=file:\(keyFile)"])
            #expect(unknownRole.status == 1)
            #expect(unknownRole.lines.contains { $0.contains("role 'passwd'") }, "\(unknownRole.lines)")

            for result in [passing, wrongKey, otherAccount, unknownRole] {
                for canary in canaries {
                    #expect(!result.lines.joined().contains(canary) && !result.standardError.contains(canary))
                }
            }
        }
    }

    @Test func aTableauSourceSignsInAndOutAndItsTokenSecretStaysOutOfTheOutput() async throws {
        let fake = try TestTableau()
        defer { fake.stop() }
        let secrets = try TemporaryDirectory()
        let nameFile = secrets.path + "/pat-name"
        let secretFile = secrets.path + "/pat-secret"
        let wrongFile = secrets.path + "/wrong-secret"
        try Data(TestTableau.patName.utf8).write(to: URL(fileURLWithPath: nameFile))
        try Data(TestTableau.patSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
        try Data("wrong-\(UUID().uuidString)".utf8).write(to: URL(fileURLWithPath: wrongFile))
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane,
                extraPolicy: "    - \"tableau://127.0.0.1:*/**\"\n  allowedHosts: [\"127.0.0.1\"]")
            let passing = try Self.check(
                setup,
                [
                    "--source", fake.sourceURL(), "--secret", "patName=file:\(nameFile)", "--secret",
                    "patSecret=file:\(secretFile)",
                ])
            #expect(passing.status == 0, "\(passing.lines) \(passing.standardError)")
            let line = try #require(passing.lines.first { $0.hasPrefix("ok   source tableau://") }, "\(passing.lines)")
            #expect(line.contains("Metadata API answers") && line.contains("'outpost-pat'"), "\(line)")
            let wrong = try Self.check(
                setup,
                [
                    "--source", fake.sourceURL(), "--secret", "patName=file:\(nameFile)", "--secret",
                    "patSecret=file:\(wrongFile)",
                ])
            #expect(wrong.status == 1)
            #expect(wrong.lines.contains { $0.hasPrefix("FAIL source tableau://") && $0.contains("refused") })
            let stats = try fake.stats()
            #expect(stats["signOuts"] as? Int == 1 && stats["activeSessions"] as? Int == 0)
            for result in [passing, wrong] {
                #expect(!result.lines.joined().contains(TestTableau.patSecret))
                #expect(!result.standardError.contains(TestTableau.patSecret))
            }
        }
    }

    @Test func aPostgreSQLSourceIsReachedWithItsPasswordSecret() async throws {
        let postgres = try TestPostgres()
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(controlPlane: controlPlane)
            let passwordFile = setup.directory.path + "/pg-password"
            try Data(postgres.password.utf8).write(to: URL(fileURLWithPath: passwordFile))
            let result = try Self.check(
                setup,
                [
                    "--source", "postgres://\(postgres.user)@127.0.0.1:\(postgres.port)/postgres", "--secret",
                    "password=file:\(passwordFile)",
                ])
            #expect(result.status == 0, "\(result.lines) \(result.standardError)")
            #expect(
                result.lines.contains {
                    $0.hasPrefix("ok   source postgres://127.0.0.1:\(postgres.port)/postgres: connected to")
                        && $0.contains("as \(postgres.user)")
                },
                "\(result.lines)")
            #expect(!result.lines.joined().contains(postgres.password))
        }
    }
}
