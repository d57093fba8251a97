// The agent reaching a TLS control plane through a test proxy (an HTTP CONNECT proxy written for these tests that
// wants basic auth): a run completes through it; a wrong proxy password keeps the agent away from the control plane
// without the password showing up anywhere; and a NO_PROXY entry bypasses the proxy.

import Agent
import AsyncHTTPClient
import ControlPlane
import Foundation
import NIOCore
import NIOHTTP1
import OutpostTesting
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
