import Agent
import Testing

@Suite("Egress policy for Snowflake sources")
struct EgressPolicySnowflakeTests {
    static let policy = try! EgressPolicy(
        allowedHosts: ["**.snowflakecomputing.com:443", "127.0.0.1", "myorg-pl.privatelink.snowflakecomputing.com"],
        allowedSources: ["snowflake://*@MYORG-*", "snowflake://etl_*@xy12345.eu-west-1/SALES"])

    @Test(
        "accounts and users match by glob, case-insensitively; the connection host must be allowed too",
        arguments: [
            ("snowflake://outpost_svc@myorg-myacct?warehouse=WH", true),
            ("snowflake://OUTPOST_SVC@MyOrg-Other/DB?warehouse=WH&role=R", true),
            ("snowflake://svc@myorg-myacct?endpoint=http://127.0.0.1:8080", true),
            ("snowflake://svc@myorg-myacct?endpoint=https://myorg-pl.privatelink.snowflakecomputing.com", true),
            ("snowflake://svc@otherorg-myacct", false),
            ("snowflake://svc@myorg-myacct?endpoint=https://evil.example", false),
            ("snowflake://svc@myorg-myacct?endpoint=https://127.0.0.2", false),
            ("snowflake://etl_loader@xy12345.eu-west-1/SALES", true),
            ("snowflake://etl_loader@xy12345.eu-west-1/HR", false),
            ("snowflake://etl_loader@xy12345.eu-west-1", false),
            ("snowflake://reporter@xy12345.eu-west-1/SALES", false),
            ("snowflake://svc:pw@myorg-myacct", false),
            ("snowflake://svc@myorg-myacct?endpoint=http://10.0.0.1", false),
        ])
    func sources(_ url: String, _ allowed: Bool) {
        let decision = Self.policy.checkSource(url)
        #expect(decision.allowed == allowed, "\(url) → \(decision.reason)")
        #expect(!decision.reason.contains("pw"))
    }

    @Test("an account the rules allow still needs its connection host among the allowed hosts")
    func hostNeeded() throws {
        let policy = try EgressPolicy(allowedHosts: ["cp.example.com"], allowedSources: ["snowflake://*@MYORG-*"])
        let decision = policy.checkSource("snowflake://svc@myorg-myacct?warehouse=WH")
        #expect(!decision.allowed)
        #expect(decision.reason.contains("myorg-myacct.snowflakecomputing.com"), "\(decision.reason)")
    }

    @Test(
        "Snowflake patterns that would allow every account or cannot be read are refused",
        arguments: ["snowflake://*", "snowflake://*@*", "snowflake://*@*-*", "snowflake://a@b?x=1", "snowflake:acct"])
    func invalidRules(_ rule: String) {
        #expect(throws: EgressPolicyError.self) { _ = try EgressPolicy(allowedHosts: [], allowedSources: [rule]) }
    }
}
