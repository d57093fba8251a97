import Agent
import Foundation
import OutpostTesting
import Testing

@Suite("Local source approval")
struct LocalSourceApprovalTests {
    @Test(
        "an approved source becomes a policy pattern that allows exactly it",
        arguments: [
            ("postgres://reader@db.example.com/sales?sslmode=require", "postgres://db.example.com:5432/sales"),
            ("postgresql://127.0.0.1:6543/shop", "postgresql://127.0.0.1:6543/shop"),
            ("sqlite:/data/orders archive.db", "sqlite:/data/orders archive.db"),
        ])
    func exactPatterns(source: String, pattern: String) throws {
        #expect(LocalSourceApproval.exactPattern(source) == pattern)
        let policy = try EgressPolicy(allowedHosts: [], allowedSources: [pattern])
        let decision = policy.checkSource(source)
        #expect(decision.allowed, "\(source) → \(decision.reason)")
    }

    @Test("sources whose pattern would read as a glob, or that are not URLs, are not approvable")
    func refused() {
        for source in ["sqlite:/data/*.db", "sqlite:/data/a?.db", "postgres://db/sales_*", "no-scheme", ":x"] {
            #expect(LocalSourceApproval.exactPattern(source) == nil, "\(source)")
        }
    }
}
