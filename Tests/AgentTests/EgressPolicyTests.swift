import Agent
import Foundation
import OutpostTesting
import Testing

@Suite("Egress policy")
struct EgressPolicyTests {
    static let policy = try! EgressPolicy(
        allowedHosts: [
            "cp.example.com:443", "*.amazonaws.com", "**.vault.corp.example:8200", "10.0.0.0/8", "[fd00::]/8:5432",
            "192.168.1.10:9000",
        ],
        allowedSources: [
            "postgres://*.corp.internal:5432/*", "postgresql://db.example.com/sales", "postgres://[10.20.0.0/16]/*",
            "postgres://[2001:db8::1]:6432", "sqlite:/data/*.db", "sqlite:///srv/catalogs/**",
            "mysql://mysql.corp.internal/*",
        ])

    @Test(
        "hosts: names, wildcards, ports, CIDR blocks, IPv6 and numeric forms",
        arguments: [
            ("cp.example.com", 443, true), ("CP.Example.COM.", 443, true), ("cp.example.com", 80, false),
            ("s3.amazonaws.com", 443, true), ("s3.eu-west-1.amazonaws.com", 443, false), ("amazonaws.com", 443, false),
            ("evilamazonaws.com", 443, false), ("amazonaws.com.evil.net", 443, false),
            ("a.vault.corp.example", 8200, true), ("a.b.vault.corp.example", 8200, true),
            ("vault.corp.example", 8200, false), ("a.vault.corp.example", 8201, false),
            ("10.1.2.3", 1, true), ("11.1.2.3", 1, false), ("10.1", 22, true), ("012.0.0.1", 22, true),
            ("0x0a.0.0.1", 22, true), ("167772161", 22, true), ("2130706433", 22, false),
            ("[fd00::1]", 5432, true), ("fd12:3456::9", 5432, true), ("fd00::1", 5433, false), ("fe80::1", 5432, false),
            ("::ffff:10.9.9.9", 80, true), ("[::ffff:192.168.1.10]", 9000, true), ("192.168.1.10", 9001, false),
            ("fd00::1%eth0", 5432, false), ("", 443, false), ("cp.example.com\u{0}.evil", 443, false),
            ("bücher.example", 443, false),
        ])
    func hosts(_ host: String, _ port: Int, _ allowed: Bool) {
        let decision = Self.policy.checkHost(host: host, port: port)
        #expect(decision.allowed == allowed, "\(host):\(port) → \(decision.reason)")
        if !allowed { #expect(decision.reason.contains("local policy")) }
    }

    @Test(
        "sources: userinfo, percent-encoding, query overrides and parser tricks resolve to the real target",
        arguments: [
            ("postgres://reader@db1.corp.internal:5432/shop", true),
            ("postgres://reader:p%40ss@db1.corp.internal/shop", true),
            ("postgresql://DB1.Corp.Internal./shop", true),
            ("postgres://db1.corp.internal/", true),
            ("postgres://db1.corp.internal", true),
            ("postgres://db1.corp.internal:5433/shop", false),
            ("postgres://evil@db1.corp.internal/shop", true),
            ("postgres://db1.corp.internal@evil.example/shop", false),
            ("postgres://db1.corp.internal:5432@evil.example/shop", false),
            ("postgres://evil.example#@db1.corp.internal/shop", false),
            ("postgres://evil.example/shop?@db1.corp.internal", false),
            ("postgres://evil.example\\@db1.corp.internal/shop", false),
            ("postgres://db1.corp.internal/shop?host=evil.example", false),
            ("postgres://evil.example/shop?host=db1.corp.internal", true),
            ("postgres://db1.corp.internal/shop?port=6543", false),
            ("postgres://db1.corp.internal/shop?host=/var/run/postgresql", false),
            ("postgres://db1.corp.internal/shop?hostaddr=10.0.0.1", false),
            ("postgres://db1.corp.internal,evil.example/shop", false),
            ("postgres://%64b1.corp.internal/shop", true),
            ("postgres://db1.corp.internal%2eevil.example/shop", false),
            ("postgres://db1.corp.internal%00.evil/shop", false),
            ("postgres://a.b.corp.internal/shop", false),
            ("postgres://db.example.com/sales", true),
            ("postgres://db.example.com/sales2", false),
            ("postgres://db.example.com/", false),
            ("postgres://db.example.com/sales?dbname=hr", false),
            ("postgres://10.20.3.4/x", true),
            ("postgres://10.21.3.4/x", false),
            ("postgres://[2001:db8::1]:6432/x", true),
            ("postgres://[2001:DB8:0::1]:6432/x", true),
            ("postgres://[2001:db8::2]:6432/x", false),
            ("mysql://mysql.corp.internal/app", true),
            ("mysql://mysql.corp.internal:3307/app", false),
            ("mysql://mysql.corp.internal/app?host=evil.example", false),
            ("sqlite:/data/shop.db", true),
            ("sqlite:///data/shop.db", true),
            ("sqlite:/data/sub/shop.db", false),
            ("sqlite:/data/../etc/shop.db", false),
            ("sqlite:/data/./shop.db", true),
            ("sqlite:/srv/catalogs/a/b/c.sqlite", true),
            ("sqlite:/srv/catalogs/../secrets.db", false),
            ("oracle://db1.corp.internal/x", false),
            ("no-scheme", false),
        ])
    func sources(_ url: String, _ allowed: Bool) {
        let decision = Self.policy.checkSource(url)
        #expect(decision.allowed == allowed, "\(url) → \(decision.reason)")
        #expect(!decision.reason.contains("p%40ss") && !decision.reason.contains("p@ss"))
        if allowed { #expect(decision.rule != nil) }
    }

    @Test("a denial names the host and says the agent's local policy refused it")
    func denialMessage() {
        let decision = Self.policy.checkSource("postgres://user:secret@evil.example:5432/db")
        #expect(!decision.allowed)
        #expect(decision.reason.contains("evil.example"))
        #expect(decision.reason.contains("local policy"))
        #expect(!decision.reason.contains("secret"))
        let allowed = Self.policy.checkSource("postgres://db1.corp.internal/shop")
        #expect(allowed.rule == "postgres://*.corp.internal:5432/*")
    }

    @Test("a symbolic link out of an allowed directory is followed before matching")
    func symlink() throws {
        let directory = try TemporaryDirectory()
        let allowed = directory.path + "/allowed"
        let outside = directory.path + "/outside"
        try FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/secret.db", contents: Data())
        _ = FileManager.default.createFile(atPath: allowed + "/real.db", contents: Data())
        try FileManager.default.createSymbolicLink(
            atPath: allowed + "/link.db", withDestinationPath: outside + "/secret.db")
        let policy = try EgressPolicy(allowedHosts: [], allowedSources: ["sqlite:\(allowed)/*.db"])
        #expect(policy.checkSource("sqlite:\(allowed)/real.db").allowed)
        #expect(!policy.checkSource("sqlite:\(allowed)/link.db").allowed)
        #expect(policy.checkSource("sqlite:\(allowed)/not-yet.db").allowed)
        // The path the kernel reports for an opened file is taken as it is.
        #expect(!policy.checkOpenedFile(scheme: "sqlite", path: outside + "/secret.db").allowed)
        #expect(policy.checkOpenedFile(scheme: "sqlite", path: allowed + "/real.db").allowed)
    }

    @Test(
        "rules that cannot be understood or would allow everything are refused",
        arguments: [
            "*", "**", "*.*", "*.com", "db*.corp.example", "a.*.example", "10.0.0.0/33", "10.0.0/8", "010.0.0.1",
            "cp.example.com:0", "cp.example.com:70000", "cp.example.com:http", "[fd00::", "fd00::/129", "",
        ])
    func invalidHostRules(_ rule: String) {
        #expect(throws: EgressPolicyError.self) { _ = try EgressPolicy(allowedHosts: [rule], allowedSources: []) }
    }

    @Test(
        "source patterns that cannot be understood are refused",
        arguments: [
            "postgres:db", "foo://host/x", "postgres://u@host/x", "postgres://host/x?sslmode=require",
            "sqlite:rel/x.db",
            "1postgres://host/x", "postgres://*/x",
        ])
    func invalidSourceRules(_ rule: String) {
        #expect(throws: EgressPolicyError.self) { _ = try EgressPolicy(allowedHosts: [], allowedSources: [rule]) }
    }

    @Test("an empty policy allows nothing")
    func empty() throws {
        let policy = try EgressPolicy(allowedHosts: [], allowedSources: [])
        #expect(!policy.checkHost(host: "localhost", port: 443).allowed)
        #expect(!policy.checkSource("sqlite:/data/shop.db").allowed)
    }

    @Test("random hosts are allowed exactly when a reference matcher allows them")
    func property() throws {
        var generator = SystemRandomNumberGenerator()
        let labels = ["a", "corp", "internal", "example", "com", "x-1", "amazonaws", "s3"]
        let policy = try EgressPolicy(allowedHosts: ["*.corp.internal:5432", "**.amazonaws.com"], allowedSources: [])
        for _ in 0..<2_000 {
            let count = Int.random(in: 1...5, using: &generator)
            let host = (0..<count).map { _ in labels.randomElement(using: &generator)! }
            let port = [443, 5432].randomElement(using: &generator)!
            let oneLabelUnderCorp = host.count == 3 && host[1] == "corp" && host[2] == "internal" && port == 5432
            let underAmazon = host.count >= 3 && host[host.count - 2] == "amazonaws" && host.last == "com"
            let expected = oneLabelUnderCorp || underAmazon
            let text = host.joined(separator: ".")
            #expect(policy.checkHost(host: text, port: port).allowed == expected, "\(text):\(port)")
            #expect(policy.checkHost(host: text.uppercased() + ".", port: port).allowed == expected)
        }
    }
}
