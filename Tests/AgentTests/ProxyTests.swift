// The agent reaching a TLS control plane through a test proxy (an HTTP CONNECT proxy written for these tests that
// wants basic auth): a run completes through it; a wrong proxy password keeps the agent away from the control plane
// without the password showing up anywhere; and a NO_PROXY entry bypasses the proxy. Snowflake jobs reach their account
// through the same proxy.

import Agent
import AsyncHTTPClient
import Connectors
import ControlPlane
import ControlPlaneStorage
import Foundation
import Logging
import Metadata
import NIOCore
import NIOHTTP1
import OutpostProtocol
import OutpostTesting
import SourceURLs
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Agent through an HTTP CONNECT proxy", .serialized)
struct ProxyTests {
    static let canary = "CANARY-proxy-pw-5d1c8e07a2"

    /// An agent setup trusting the test CA and using `proxy`, plus `extra` lines of the network section.
    static func setup(
        _ controlPlane: TestControlPlane, _ certificates: TestCertificates, proxy: String, extra: String = ""
    ) throws -> AgentSetup {
        var setup = try AgentSetup(controlPlane: controlPlane)
        setup.yaml += "\nnetwork:\n  caBundle: \(certificates.authority)\n  proxy: \(proxy)\n\(extra)"
        return setup
    }

    @Test func aRunCompletesThroughTheProxyToATLSControlPlane() async throws {
        let certificates = try TestCertificates()
        let proxy = try TestConnectProxy(username: "agent", password: "s3cret")
        try await withTLSControlPlane(certificates) { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try Self.setup(
                controlPlane, certificates, proxy: "http://agent:s3cret@127.0.0.1:\(proxy.port)")
            try await withAgent(setup, environment: environmentWithoutProxies) { runner in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .succeeded, "\(run.error ?? "")")
                #expect(await runner.readiness().ready)
            }
            #expect(proxy.connects >= 1)
            #expect(proxy.authenticationFailures == 0)
            #expect(proxy.tunnelTargets.allSatisfy { $0 == "127.0.0.1:\(controlPlane.port)" }, "\(proxy.tunnelTargets)")
            let agents = try await controlPlane.store.agents(tenantId: controlPlane.tenant.id)
            #expect(agents.count == 1)
        }
    }

    @Test func aWrongProxyPasswordKeepsTheAgentAwayAndThePasswordOutOfEveryLogAndFile() async throws {
        let certificates = try TestCertificates()
        let proxy = try TestConnectProxy(username: "agent", password: "s3cret")
        try await withTLSControlPlane(certificates) { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            let healthPort = try FreePort.find()
            var setup = try Self.setup(
                controlPlane, certificates, proxy: "http://agent:\(Self.canary)@127.0.0.1:\(proxy.port)")
            setup.yaml += "\nobservability:\n  listen: 127.0.0.1:\(healthPort)\n  logLevel: debug\n"
            let agent = try AgentProcess(
                configPath: try setup.writeConfiguration(), environment: environmentWithoutProxies,
                logPath: setup.directory.path + "/agent.log")
            let deadline = ContinuousClock.now + .seconds(20)
            while (proxy.authenticationFailures < 2 || !agent.log.contains("heartbeat.failed"))
                && ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(proxy.authenticationFailures >= 2, "\(agent.log)")
            #expect(proxy.connects == 0)
            let readiness = try await Self.readiness(port: healthPort)
            #expect(readiness.status == 503, "\(readiness.body)")
            #expect(readiness.body.contains("not ready"))
            agent.signal(SIGTERM)
            #expect(await agent.waitForExit(within: .seconds(20)) == 0, "\(agent.log)")

            #expect(agent.log.contains("heartbeat.failed"))
            #expect(agent.log.contains("the proxy refused the credentials (407"), "\(agent.log)")
            #expect(try await controlPlane.run(queued.id).status == .queued)
            #expect(try await controlPlane.store.agents(tenantId: controlPlane.tenant.id).isEmpty)
            let written =
                [agent.log]
                + (try SecretCanaryTests.files(under: setup.dataDirectory)).map {
                    String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: $0))) ?? Data(), as: UTF8.self)
                }
            for text in written { #expect(!text.contains(Self.canary)) }
            for file in try SecretCanaryTests.files(under: controlPlane.directory.path) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                #expect(bytes.range(of: Data(Self.canary.utf8)) == nil, "the canary is in \(file)")
            }
        }
    }

    @Test func aNoProxyEntryForTheControlPlaneBypassesTheProxy() async throws {
        let certificates = try TestCertificates()
        let proxy = try TestConnectProxy(username: "agent", password: "s3cret")
        try await withTLSControlPlane(certificates) { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)
            let setup = try Self.setup(
                controlPlane, certificates, proxy: "http://agent:s3cret@127.0.0.1:\(proxy.port)",
                extra: "  noProxy: [127.0.0.1]\n")
            try await withAgent(setup, environment: environmentWithoutProxies) { _ in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .succeeded, "\(run.error ?? "")")
            }
            #expect(proxy.connects == 0)
            #expect(proxy.authenticationFailures == 0)
        }
    }

    /// `GET /readyz` of the agent's local listener.
    static func readiness(port: Int) async throws -> (status: UInt, body: String) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 * 1024)
        return (response.status.code, String(buffer: body))
    }
}

/// Snowflake through the agent's proxy: the job's SQL API requests are tunnelled like the agent's own.
extension ProxyTests {
    @Test func aSnowflakeRunReadsItsKeyFromSecretsManagerAndReachesTheAccountThroughTheAgentsProxy() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let proxy = try TestConnectProxy(username: "agent", password: "s3cret")
        let moto = try TestMoto()
        let key = SnowflakeTestKeys.plainPKCS8.replacingOccurrences(of: "\n", with: "\\n")
        try moto.boto3("client('secretsmanager').create_secret(Name='prod/snowflake-key', SecretString='\(key)')")
        try await withControlPlane { controlPlane in
            var setup = try AgentSetup(controlPlane: controlPlane, extraPolicy: "  allowedHosts: [\"127.0.0.1\"]")
            setup.yaml += "\nnetwork:\n  proxy: http://agent:s3cret@127.0.0.1:\(proxy.port)\n"
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(
                    name: "warehouse", sourceKind: "snowflake",
                    sourceURL: "snowflake://outpost_svc@myorg-myacct/SHARED_DB?warehouse=OUTPOST_WH&role=OUTPOST_RO"
                        + "&endpoint=\(fake.endpoint)",
                    secrets: ["privateKey": "aws-sm:prod/snowflake-key"]))
            let run = try await controlPlane.runNow(connection.id)
            try await withAgent(setup, environment: environmentWithoutProxies.merging(moto.environment()) { $1 }) {
                _ in
                let finished = try await controlPlane.finished(run.id)
                #expect(finished.status == .succeeded, "\(finished.error ?? "")")
            }
            #expect(try !fake.statements().isEmpty)
        }
        #expect(proxy.authenticationFailures == 0)
        // The control plane, Secrets Manager and the account: all through the proxy.
        let targets = Set(proxy.tunnelTargets)
        #expect(targets.contains("127.0.0.1:\(fake.port)"), "\(targets)")
        #expect(targets.contains("127.0.0.1:\(moto.port)"), "\(targets)")
    }

    @Test func aProxyRefusingTheCredentialsFailsASnowflakeExtractionWithItsReason() async throws {
        let fake = try await TestSnowflake.exclusive()
        defer { fake.release() }
        let proxy = try TestConnectProxy(username: "agent", password: "s3cret")
        var connector = SnowflakeConnector(
            source: try SnowflakeSource(
                url: "snowflake://outpost_svc@myorg-myacct/SHARED_DB?warehouse=OUTPOST_WH&role=OUTPOST_RO"
                    + "&endpoint=\(fake.endpoint)"),
            credentials: .keyPair(privateKeyPEM: SnowflakeTestKeys.plainPKCS8, passphrase: nil))
        let settings = ProxySettings(
            proxy: .init(host: "127.0.0.1", port: proxy.port, username: "agent", password: Self.canary), noProxy: [])
        connector = try #require(settings.applied(to: connector) as? SnowflakeConnector)
        let folder = try TemporaryDirectory()
        let error = await #expect(throws: ConnectorError.self) {
            _ = try await Extraction(
                connector: connector, scope: ExtractionScope(connection: "warehouse"),
                folder: ExtractionFolder(path: folder.path + "/out")
            ).run(progress: ExtractionProgress(), logger: Logger(label: "test"))
        }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("407 Proxy Authentication Required") == true, "\(String(describing: error))")
        #expect(error.map { "\($0)" }?.contains(Self.canary) == false)
        #expect(proxy.authenticationFailures >= 1)
        // Exempted by NO_PROXY, the same connector goes straight to the account.
        let direct = ProxySettings(proxy: settings.proxy, noProxy: ["127.0.0.1"])
        #expect((direct.applied(to: connector) as? SnowflakeConnector)?.proxy == nil)
    }
}
