import Agent
import Foundation
import OutpostTesting
import Testing

/// `outpost probe` (the image's HEALTHCHECK) against a real health listener on loopback, run as a child process.
@Suite("Health probe")
struct HealthProbeTests {
    static func probe(_ arguments: [String]) async throws -> ProcessResult {
        try await ChildProcess.runOffPool(BuildProducts.outpost, ["probe"] + arguments)
    }

    @Test(
        "only http:// URLs on loopback are accepted",
        arguments: [
            ("http://127.0.0.1:9464/healthz", true), ("http://127.1.2.3:1/readyz", true),
            ("http://localhost:9464/healthz", true), ("http://[::1]:9464/healthz", true),
            ("https://127.0.0.1:9464/healthz", false), ("http://10.0.0.1:9464/healthz", false),
            ("http://127.0.0.1.example.com/healthz", false), ("ftp://localhost/x", false), ("not a url", false),
        ])
    func urls(url: String, accepted: Bool) {
        #expect(((try? HealthProbe(url: url, timeout: .seconds(1))) != nil) == accepted, "\(url)")
    }

    @Test("a 200 from /healthz exits 0; a 503 from /readyz exits 1 with the listener's reason")
    func againstTheListener() async throws {
        let ready = Flag()
        try await MetricsTests.withServer(
            metrics: AgentMetrics(), readiness: { ready.isSet ? .ready : .notReady("no heartbeat has succeeded yet") }
        ) { port in
            let alive = try await Self.probe(["http://127.0.0.1:\(port)/healthz"])
            #expect(alive.status == 0, "\(alive.standardError)")
            #expect(alive.standardOutput == "ok\n")

            let notReady = try await Self.probe(["http://127.0.0.1:\(port)/readyz"])
            #expect(notReady.status == 1)
            #expect(notReady.standardError.contains("answered 503: not ready: no heartbeat has succeeded yet"))

            ready.set()
            let nowReady = try await Self.probe(["http://127.0.0.1:\(port)/readyz", "--timeout", "2"])
            #expect(nowReady.status == 0, "\(nowReady.standardError)")
            #expect(nowReady.standardOutput == "ready\n")

            let missing = try await Self.probe(["http://127.0.0.1:\(port)/nothing"])
            #expect(missing.status == 1)
            #expect(missing.standardError.contains("answered 404"))
        }
    }

    @Test("nothing listening exits 1 with 'cannot reach'")
    func nothingListening() async throws {
        // A port that was free a moment ago: bind, read it, close.
        let port = try FreePort.find()
        let result = try await Self.probe(["http://127.0.0.1:\(port)/healthz", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("cannot reach http://127.0.0.1:\(port)/healthz"))
    }

    @Test("a remote or TLS URL, or a bad timeout, is a usage error (64) and nothing is contacted")
    func usageErrors() async throws {
        let remote = try await Self.probe(["http://192.0.2.1:9464/healthz"])
        #expect(remote.status == 64)
        #expect(remote.standardError.contains("the probe checks the local agent only"))
        let tls = try await Self.probe(["https://127.0.0.1:9464/healthz"])
        #expect(tls.status == 64)
        #expect(tls.standardError.contains("is not an http://HOST:PORT/PATH URL"))
        let timeout = try await Self.probe(["--timeout", "0"])
        #expect(timeout.status == 64)
        #expect(timeout.standardError.contains("--timeout must be between 1 and 300 seconds"))
    }
}
