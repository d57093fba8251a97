import Agent
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OutpostTesting
import ServiceLifecycle
import Synchronization
import Testing

/// A flag the readiness closure reads while the test flips it.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

@Suite("Agent metrics and health listener")
struct MetricsTests {
    /// Runs a health server on a free loopback port for the duration of `body`.
    static func withServer(
        metrics: AgentMetrics, readiness: @escaping @Sendable () async -> Readiness,
        _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = HealthServer(
            configuration: HealthServerConfiguration(host: "127.0.0.1", port: 0), metrics: metrics,
            logger: Logger(label: "test"), readiness: readiness, onServerRunning: { continuation.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body(port)
            group.cancelAll()
        }
    }

    static func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String, contentType: String?) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body), response.headers.first(name: "content-type"))
    }

    static func exercise(_ metrics: AgentMetrics) {
        metrics.jobFinished(.succeeded, duration: .seconds(42))
        metrics.jobFinished(.failed, duration: .milliseconds(1500))
        metrics.claimCompleted(after: .milliseconds(120))
        metrics.leaseRenewed(.ok)
        metrics.leaseRenewed(.ok)
        metrics.leaseRenewed(.stale)
        metrics.logBytesShipped(4096)
        metrics.logBytesDropped(10)
        metrics.spoolSize(123_456)
        metrics.egressDenied()
        metrics.secretFetchFailed()
        metrics.apiKeyExpires(in: 86_400)
    }

    @Test("/healthz, /readyz and /metrics answer over HTTP on loopback")
    func endpoints() async throws {
        let metrics = AgentMetrics()
        Self.exercise(metrics)
        let ready = Flag()
        try await Self.withServer(
            metrics: metrics, readiness: { ready.isSet ? .ready : .notReady("no API key yet") }
        ) { port in
            #expect(try await Self.get(port, "/healthz").status == 200)
            let notReady = try await Self.get(port, "/readyz")
            #expect(notReady.status == 503)
            #expect(notReady.body.contains("no API key yet"))
            ready.set()
            #expect(try await Self.get(port, "/readyz").status == 200)
            let scrape = try await Self.get(port, "/metrics")
            #expect(scrape.status == 200)
            #expect(scrape.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(scrape.body.contains(#"outpost_agent_jobs_total{outcome="succeeded"} 1"#))
            #expect(scrape.body.contains(#"outpost_agent_lease_renewals_total{result="ok"} 2"#))
            #expect(scrape.body.contains("outpost_agent_log_shipped_bytes_total 4096"))
            #expect(scrape.body.contains("outpost_agent_spool_bytes 123456"))
            #expect(scrape.body.contains("outpost_agent_job_duration_seconds_count 2"))
            #expect(scrape.body.contains("outpost_agent_api_key_expiry_seconds 86400"))
            #expect(try await Self.get(port, "/other").status == 404)
        }
    }

    @Test("the /metrics exposition passes promtool check metrics")
    func promtool() async throws {
        let promtool = try #require(
            ChildProcess.which("promtool"), "promtool is missing: install the Debian package 'prometheus'")
        let metrics = AgentMetrics()
        Self.exercise(metrics)
        try await Self.withServer(metrics: metrics, readiness: { .ready }) { port in
            let scrape = try await Self.get(port, "/metrics")
            let result = try ChildProcess.run(promtool, ["check", "metrics"], input: scrape.body)
            #expect(result.status == 0, "promtool: \(result.standardOutput)\(result.standardError)")
        }
    }
}
