import OutpostProtocol
import Testing

@testable import Agent

@Suite("One-session credentials (Tableau tokens) and the policy for Tableau sources")
struct SessionCredentialsTests {
    static func job(_ url: String, secrets: [String: String]) -> JobSpec {
        JobSpec(
            connectionId: "c1", connectionName: "bi", sourceKind: "tableau", sourceURL: url, secrets: secrets,
            filters: JobFilters(), delivery: Delivery(mode: .direct))
    }

    @Test("runs with the same token take turns in arrival order; a cancelled waiter gives up its turn")
    func takeTurns() async throws {
        let credentials = SessionCredentials()
        let pat = ["patName": "env:PAT_NAME", "patSecret": "env:PAT_SECRET"]
        let key = try #require(SessionCredentials.key(for: Self.job("tableau://t.example/sales", secrets: pat)))
        #expect(SessionCredentials.key(for: Self.job("tableau://t.example/sales", secrets: [:])) == nil)
        #expect(SessionCredentials.key(for: Self.job("postgres://db/x", secrets: ["password": "env:P"])) == nil)
        let other = try #require(
            SessionCredentials.key(
                for: Self.job("tableau://t.example/hr", secrets: ["patName": "env:A", "patSecret": "env:B"])))
        #expect(other != key)

        #expect(credentials.tryAcquire(key))
        #expect(!credentials.tryAcquire(key))
        #expect(credentials.tryAcquire(other), "another token is not held up")

        let order = MutexBox<[String]>([])
        let first = Task {
            let acquired = await credentials.acquire(key)
            order.withLock { $0.append("first") }
            return acquired
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelled = Task { await credentials.acquire(key) }
        try await Task.sleep(for: .milliseconds(50))
        let second = Task {
            let acquired = await credentials.acquire(key)
            order.withLock { $0.append("second") }
            return acquired
        }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == false)
        #expect(order.withLock { $0 }.isEmpty, "nobody runs while the token is held")

        credentials.release(key)
        #expect(await first.value)
        try await Task.sleep(for: .milliseconds(50))
        #expect(order.withLock { $0 } == ["first"], "the second waits for the first")
        credentials.release(key)
        #expect(await second.value)
        #expect(order.withLock { $0 } == ["first", "second"])
        credentials.release(key)
        #expect(credentials.tryAcquire(key), "free again once every run gave it back")
    }

    @Test(
        "Tableau sources match rules by the host requests go to and the site",
        arguments: [
            ("tableau://tableau.corp.example/sales", true),
            ("tableau://tableau.corp.example/hr", false),
            ("tableau://tableau.corp.example/sales?endpoint=https://evil.example", false),
            ("tableau://other.example/sales", false),
            ("tableau://user:pw@tableau.corp.example/sales", false),
        ])
    func policy(_ url: String, _ allowed: Bool) throws {
        let policy = try EgressPolicy(
            allowedHosts: ["tableau.corp.example"], allowedSources: ["tableau://tableau.corp.example/sales"])
        let decision = policy.checkSource(url)
        #expect(decision.allowed == allowed, "\(url) → \(decision.reason)")
        #expect(!decision.reason.contains("pw"))
    }
}
