// The agent against a control plane served over TLS with a certificate from a CA made by the openssl CLI at test
// time: without the CA in `network.caBundle` it fails fast with a TLS error, with it a run completes; and the
// client certificate and key of `network` are loaded or refused with a clear error.

import Agent
import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Foundation
import NIOSSL
import OutpostProtocol
import OutpostTesting
import Testing

/// A throwaway CA and what it signed — a server certificate for 127.0.0.1 and a client certificate — as PEM files.
struct TestCertificates {
    let directory: TemporaryDirectory
    var authority: String { directory.path + "/ca.pem" }
    var serverCertificate: String { directory.path + "/server.pem" }
    var serverKey: String { directory.path + "/server-key.pem" }
    var clientCertificate: String { directory.path + "/client.pem" }
    var clientKey: String { directory.path + "/client-key.pem" }
    /// A second client key that does not belong to `clientCertificate`.
    var otherKey: String { directory.path + "/other-key.pem" }

    init() throws {
        directory = try TemporaryDirectory()
        let openssl = try #require(ChildProcess.which("openssl"), "the openssl CLI is needed to make certificates")
        let path = directory.path
        func run(_ arguments: [String]) throws {
            let result = try ChildProcess.run(openssl, arguments)
            guard result.status == 0 else {
                throw TestFailure("openssl \(arguments.first ?? "") failed: \(result.standardError)")
            }
        }
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(
            ["req", "-x509"] + curve + [
                "-keyout", path + "/ca-key.pem", "-out", authority, "-days", "1", "-subj", "/CN=Outpost Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        for (name, extensions) in [
            ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            try run(
                ["req"] + curve + [
                    "-keyout", "\(path)/\(name)-key.pem", "-out", "\(path)/\(name).csr", "-subj", "/CN=127.0.0.1",
                ])
            try Data(extensions.utf8).write(to: URL(fileURLWithPath: "\(path)/\(name).ext"))
            try run([
                "x509", "-req", "-in", "\(path)/\(name).csr", "-CA", authority, "-CAkey", path + "/ca-key.pem",
                "-CAcreateserial", "-out", "\(path)/\(name).pem", "-days", "1", "-extfile", "\(path)/\(name).ext",
            ])
        }
        try run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", otherKey])
    }

    /// An HTTP client trusting only the test CA; shut it down after use.
    func trustingClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(authority))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }
}

/// A control plane whose listener has TLS with the test CA's server certificate; its admin client trusts the CA.
func withTLSControlPlane(
    _ certificates: TestCertificates, _ body: (TestControlPlane) async throws -> Void
) async throws {
    let tls = try ServerTLS(certificateFile: certificates.serverCertificate, keyFile: certificates.serverKey)
    let client = try certificates.trustingClient()
    do {
        try await withControlPlane({ $0.tls = tls }) { controlPlane in
            controlPlane.adminClient = client
            try await body(controlPlane)
        }
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
}

/// The process environment without proxy variables, so the machine's settings cannot change what a test sees.
var environmentWithoutProxies: [String: String] {
    ProcessInfo.processInfo.environment.filter {
        !["https_proxy", "http_proxy", "all_proxy", "no_proxy"].contains($0.key.lowercased())
    }
}

@Suite("Agent TLS to the control plane", .serialized)
struct TLSTests {
    @Test func withoutTheCAInTheBundleTheAgentFailsFastWithATLSErrorAndWithItARunCompletes() async throws {
        let certificates = try TestCertificates()
        try await withTLSControlPlane(certificates) { controlPlane in
            let connection = try await controlPlane.createConnection(
                ConnectionRequest(name: "shop", sourceKind: "sqlite", sourceURL: sampleDatabaseURL))
            let queued = try await controlPlane.runNow(connection.id)

            // Not trusted: the system roots do not know the test CA.
            let untrusted = try AgentSetup(controlPlane: controlPlane)
            let agent = try AgentProcess(
                configPath: try untrusted.writeConfiguration(), environment: environmentWithoutProxies,
                logPath: untrusted.directory.path + "/agent.log")
            let started = ContinuousClock.now
            while !agent.log.contains("heartbeat.failed") && ContinuousClock.now - started < .seconds(20) {
                try await Task.sleep(for: .milliseconds(50))
            }
            let failedAfter = ContinuousClock.now - started
            agent.signal(SIGTERM)
            #expect(await agent.waitForExit(within: .seconds(20)) == 0, "\(agent.log)")
            #expect(failedAfter < .seconds(5), "the first heartbeat took \(failedAfter) to fail: \(agent.log)")
            #expect(agent.log.contains("TLS handshake failed"), "\(agent.log)")
            #expect(agent.log.contains("network.caBundle"), "\(agent.log)")
            #expect(try await controlPlane.run(queued.id).status == .queued)
            #expect(try await controlPlane.store.agents(tenantId: controlPlane.tenant.id).isEmpty)

            var trusted = try AgentSetup(controlPlane: controlPlane)
            trusted.yaml += "\nnetwork:\n  caBundle: \(certificates.authority)\n"
            try await withAgent(trusted, environment: environmentWithoutProxies) { _ in
                let run = try await controlPlane.finished(queued.id)
                #expect(run.status == .succeeded, "\(run.error ?? "")")
            }
        }
    }

    @Test func aClientCertificateAndItsKeyAreLoadedAndMismatchedOrUnreadableFilesAreRefusedClearly() async throws {
        let certificates = try TestCertificates()
        let directory = try TemporaryDirectory()
        func configuration(network: String) throws -> AgentConfiguration {
            try AgentConfiguration.parse(
                """
                controlPlane:
                  url: https://127.0.0.1:1
                  apiKey: env:OUTPOST_API_KEY
                agent:
                  dataDir: \(directory.path)/data
                policy:
                  allowedSources: ["sqlite:/tmp/*"]
                network:
                \(network)
                """, file: "agent.yaml", environment: ["OUTPOST_API_KEY": "not-a-key"])
        }
        func describe(_ error: (any Error)?) -> String { error.map { "\($0)" } ?? "no error" }

        let matching = try configuration(
            network: "  clientCertificate: \(certificates.clientCertificate)\n  clientKey: \(certificates.clientKey)")
        let loaded = try OutboundNetwork(network: matching.network, environment: [:])
        #expect(loaded.presentsClientCertificate)
        await loaded.shutdown()

        let other = try configuration(
            network: "  clientCertificate: \(certificates.clientCertificate)\n  clientKey: \(certificates.otherKey)")
        let mismatched = #expect(throws: AgentError.self) {
            _ = try OutboundNetwork(network: other.network, environment: [:])
        }
        #expect(mismatched?.code == .invalidConfiguration)
        #expect(describe(mismatched).contains("does not match"), "\(describe(mismatched))")
        #expect(describe(mismatched).contains("other-key.pem"), "\(describe(mismatched))")

        let swapped = try configuration(
            network: "  clientCertificate: \(certificates.clientKey)\n  clientKey: \(certificates.clientKey)")
        let notACertificate = #expect(throws: AgentError.self) {
            _ = try OutboundNetwork(network: swapped.network, environment: [:])
        }
        #expect(describe(notACertificate).contains("network.clientCertificate"), "\(describe(notACertificate))")
        #expect(describe(notACertificate).contains("client-key.pem"), "\(describe(notACertificate))")

        // Missing, unreadable and half-given files are refused when the configuration is read, naming the setting.
        let missing = certificates.directory.path + "/missing-key.pem"
        let unreadable = #expect(throws: (any Error).self) {
            _ = try configuration(
                network: "  clientCertificate: \(certificates.clientCertificate)\n  clientKey: \(missing)")
        }
        #expect(describe(unreadable).contains("missing-key.pem"), "\(describe(unreadable))")
        let half = #expect(throws: (any Error).self) {
            _ = try configuration(network: "  clientCertificate: \(certificates.clientCertificate)")
        }
        #expect(describe(half).contains("clientKey"), "\(describe(half))")
    }
}
