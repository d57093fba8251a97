import Foundation
import Metadata
import SourceURLs
import Testing

@testable import Connectors

@Suite struct SnowflakeSourceTests {
    @Test(
        arguments: [
            ("myorg-myacct", "myorg-myacct.snowflakecomputing.com", "MYORG-MYACCT"),
            ("MyOrg-MyAcct", "myorg-myacct.snowflakecomputing.com", "MYORG-MYACCT"),
            ("xy12345.eu-west-1", "xy12345.eu-west-1.snowflakecomputing.com", "XY12345"),
            ("xy12345.us-east-2.aws", "xy12345.us-east-2.aws.snowflakecomputing.com", "XY12345"),
            ("myorg-myacct.us-east-1", "myorg-myacct.us-east-1.snowflakecomputing.com", "MYORG-MYACCT"),
            ("xy12345-abc.global", "xy12345-abc.global.snowflakecomputing.com", "XY12345"),
            ("myorg-my_acct", "myorg-my-acct.snowflakecomputing.com", "MYORG-MY_ACCT"),
            ("xy12345.eu-west-1.snowflakecomputing.com", "xy12345.eu-west-1.snowflakecomputing.com", "XY12345"),
        ])
    func accountIdentifiersGiveTheHostAndTheJWTAccount(account: String, host: String, jwtAccount: String) throws {
        let source = try SnowflakeSource(url: "snowflake://outpost_svc@\(account)?warehouse=WH")
        #expect(source.host == host)
        #expect(source.jwtAccount == jwtAccount)
        #expect(source.jwtUser == "OUTPOST_SVC")
        #expect(source.baseURL == "https://\(host)")
        #expect(source.port == 443)
    }

    @Test func everyParameterIsParsed() throws {
        let source = try SnowflakeSource(
            url: "snowflake://svc%40corp@MYORG-MYACCT/sales%20db?warehouse=OUTPOST_WH&role=OUTPOST_RO"
                + "&endpoint=https://myorg-myacct.privatelink.snowflakecomputing.com:8443&sslrootcert=/etc/ca.pem"
                + "&mode=account_usage&authenticator=OAUTH&statement_timeout=120")
        #expect(source.user == "svc@corp")
        #expect(source.database == "sales db")
        #expect(source.warehouse == "OUTPOST_WH")
        #expect(source.role == "OUTPOST_RO")
        #expect(source.host == "myorg-myacct.privatelink.snowflakecomputing.com")
        #expect(source.port == 8443)
        #expect(source.baseURL == "https://myorg-myacct.privatelink.snowflakecomputing.com:8443")
        #expect(source.rootCertificatePath == "/etc/ca.pem")
        #expect(source.mode == .accountUsage)
        #expect(source.authenticator == .oauth)
        #expect(source.statementTimeoutSeconds == 120)
        // The JWT account comes from the account identifier, not the endpoint.
        #expect(source.jwtAccount == "MYORG-MYACCT")
        #expect(source.description == "snowflake://svc@corp@myorg-myacct/sales db")
    }

    @Test func defaultsAreInformationSchemaAndKeyPair() throws {
        let source = try SnowflakeSource(url: "snowflake://u@myorg-myacct")
        #expect(source.mode == .informationSchema)
        #expect(source.authenticator == .keyPair)
        #expect(source.database == nil)
        #expect(source.location == "myorg-myacct.snowflakecomputing.com")
    }

    @Test(arguments: ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:443", "http://127.9.8.7"])
    func plainHTTPEndpointsAreAllowedOnLoopback(endpoint: String) throws {
        let source = try SnowflakeSource(url: "snowflake://u@myorg-myacct?endpoint=\(endpoint)")
        #expect(source.scheme == "http")
        #expect(source.baseURL.hasPrefix("http://"))
    }

    @Test(
        arguments: [
            ("snowflake://u:pw@myorg-myacct", "password"),
            ("snowflake://myorg-myacct", "names no user"),
            ("snowflake://u@myorg-myacct?endpoint=http://10.0.0.5:80", "loopback"),
            ("snowflake://u@myorg-myacct?endpoint=http://example.com", "loopback"),
            ("snowflake://u@myorg-myacct?endpoint=ftp://example.com", "https://"),
            ("snowflake://u@myorg-myacct?endpoint=https://u:p@example.com", "credentials"),
            ("snowflake://u@myorg-myacct?endpoint=https://example.com/path", "no path"),
            ("snowflake://u@myorg-myacct?private_key=abc", "credentials"),
            ("snowflake://u@myorg-myacct?token=abc", "credentials"),
            ("snowflake://u@myorg-myacct?password=abc", "credentials"),
            ("snowflake://u@myorg-myacct?mode=fast", "unknown mode"),
            ("snowflake://u@myorg-myacct?authenticator=externalbrowser", "unknown authenticator"),
            ("snowflake://u@myorg-myacct?warehouse=A&warehouse=B", "twice"),
            ("snowflake://u@myorg-myacct?colour=blue", "unknown URL parameter"),
            ("snowflake://u@my org", "not a Snowflake account identifier"),
            ("snowflake://u@myorg..acct", "not a Snowflake account identifier"),
            ("snowflake://u@myorg-myacct.privatelink", "PrivateLink"),
            ("snowflake://u@myorg-myacct?statement_timeout=0", "statement_timeout"),
            ("postgres://u@myorg-myacct", "not a Snowflake URL"),
        ])
    func invalidURLsAreRefusedWithAClearReason(url: String, fragment: String) {
        let error = #expect(throws: ConnectorError.self) { try SnowflakeSource(url: url) }
        #expect(error?.code == .invalidSource)
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("pw@") != true)
    }

    @Test func sourceLocationResolvesSnowflakeURLs() throws {
        let resolved = try SourceLocation.resolve(
            "snowflake://outpost_svc@myorg-myacct/SALES?warehouse=WH",
            snowflake: .token("t"), queryTag: "outpost run=1")
        #expect(resolved.connector.sourceKind == "snowflake")
        #expect(resolved.defaultConnectionName == "myorg-myacct")
        let connector = try #require(resolved.connector as? SnowflakeConnector)
        #expect(connector.queryTag == "outpost run=1")
        #expect(throws: ConnectorError.self) {
            try SourceLocation.resolve("snowflake://u@myorg-myacct", password: "pw")
        }
    }
}

@Suite struct SnowflakeValuesTests {
    @Test func literalsEscapeQuotesAndBackslashes() {
        #expect(SnowflakeValues.literal("it's") == "'it''s'")
        #expect(SnowflakeValues.literal(#"a\b"#) == #"'a\\b'"#)
        #expect(SnowflakeValues.literal("🚀 \"x\" .y") == "'🚀 \"x\" .y'")
        #expect(SnowflakeValues.identifier(#"we"ird"#) == #""we""ird""#)
    }

    @Test(
        arguments: [
            ("1700000000.123000000", "2023-11-14T22:13:20.123Z"),
            ("0.000000000", "1970-01-01T00:00:00.000Z"),
            ("951782400.5", "2000-02-29T00:00:00.500Z"),
            ("1700000000.123000000 1500", "2023-11-14T22:13:20.123Z"),
            ("-1.500000000", "1969-12-31T23:59:58.500Z"),
        ])
    func timestampsBecomeRFC3339UTC(cell: String, expected: String) {
        #expect(SnowflakeValues.timestamp(cell) == expected)
    }

    @Test func cellsDecodeAsJSONv2Encodes() {
        #expect(SnowflakeValues.int64("42") == 42)
        #expect(SnowflakeValues.int64("42.000") == 42)
        #expect(SnowflakeValues.int64("4.5") == nil)
        #expect(SnowflakeValues.bool("YES") == true)
        #expect(SnowflakeValues.bool("false") == false)
        #expect(SnowflakeValues.bool(nil) == nil)
        #expect(SnowflakeValues.timestamp("yesterday") == nil)
    }

    @Test func typesGetTheirNativeTextAndFamily() {
        #expect(
            SnowflakeValues.nativeType(dataType: "NUMBER", length: nil, precision: 38, scale: 0, datetimePrecision: nil)
                == "NUMBER(38,0)")
        #expect(
            SnowflakeValues.nativeType(
                dataType: "TEXT", length: 16_777_216, precision: nil, scale: nil, datetimePrecision: nil)
                == "VARCHAR(16777216)")
        #expect(
            SnowflakeValues.nativeType(
                dataType: "TIMESTAMP_NTZ", length: nil, precision: nil, scale: nil, datetimePrecision: 9)
                == "TIMESTAMP_NTZ(9)")
        #expect(SnowflakeValues.typeFamily(dataType: "NUMBER", scale: 0) == .integer)
        #expect(SnowflakeValues.typeFamily(dataType: "NUMBER", scale: 2) == .decimal)
        #expect(SnowflakeValues.typeFamily(dataType: "VARIANT", scale: nil) == .json)
        #expect(SnowflakeValues.typeFamily(dataType: "GEOGRAPHY", scale: nil) == .geometric)
        #expect(SnowflakeValues.typeFamily(dataType: "TIMESTAMP_TZ", scale: nil) == .timestamp)
        #expect(SnowflakeValues.typeFamily(dataType: "VECTOR", scale: nil) == .array)
    }
}

@Suite struct SnowflakeResultParserTests {
    /// Feeds `json` in pieces of `step` bytes; returns the rows and the members.
    func parse(_ json: String, step: Int) throws -> ([[String?]], [String: [UInt8]]) {
        var parser = SnowflakeResultParser(maxMemberBytes: 1 << 20)
        var rows: [[String?]] = []
        let bytes = Array(json.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + step)
            try bytes[start..<end].withUnsafeBytes { pointer in
                try parser.feed(pointer, onMember: { _, _ in }, onRow: { rows.append($0) })
            }
            start = end
        }
        #expect(parser.isComplete)
        return (rows, parser.members)
    }

    static let body = #"""
        {"resultSetMetaData":{"numRows":3,"rowType":[{"name":"A"},{"name":"B"}],"partitionInfo":[{"rowCount":3}]},
         "data":[["x\"y\\z", null],["🚀 \u00e9\ud83d\ude80", "[1,{\"a\":2}]"] , ["", "-1.5"]],
         "code":"090001","statementHandle":"01b2-c3","message":"Statement executed successfully.","n":12}
        """#

    @Test(arguments: [1, 2, 7, 4096])
    func rowsAndMembersSurviveAnySplit(step: Int) throws {
        let (rows, members) = try parse(Self.body, step: step)
        #expect(rows == [[#"x"y\z"#, nil], ["🚀 é🚀", #"[1,{"a":2}]"#], ["", "-1.5"]])
        #expect(String(decoding: members["code"] ?? [], as: UTF8.self) == #""090001""#)
        #expect(String(decoding: members["n"] ?? [], as: UTF8.self) == "12")
        #expect(members["resultSetMetaData"].map { String(decoding: $0, as: UTF8.self).hasPrefix("{") } == true)
        #expect(members["data"] == nil)
    }

    @Test func anEmptyDataArrayAndATruncatedBodyAreTold() throws {
        let (rows, _) = try parse(#"{"data":[],"code":"090001"}"#, step: 3)
        #expect(rows.isEmpty)
        var parser = SnowflakeResultParser()
        try Array(#"{"data":[["a"]"#.utf8).withUnsafeBytes { pointer in
            try parser.feed(pointer, onMember: { _, _ in }, onRow: { _ in })
        }
        #expect(!parser.isComplete)
    }

    @Test func oversizedRowsAndMalformedBodiesAreRefused() {
        var parser = SnowflakeResultParser(maxMemberBytes: 16)
        #expect(throws: ConnectorError.self) {
            try Array(#"{"data":[["0123456789abcdefghij"]]}"#.utf8).withUnsafeBytes { pointer in
                try parser.feed(pointer, onMember: { _, _ in }, onRow: { _ in })
            }
        }
        var other = SnowflakeResultParser()
        #expect(throws: ConnectorError.self) {
            try Array("[1,2]".utf8).withUnsafeBytes { pointer in
                try other.feed(pointer, onMember: { _, _ in }, onRow: { _ in })
            }
        }
    }
}

@Suite struct SnowflakeViewReferencesTests {
    let connection = QualifiedName(["acct"])

    func references(_ sql: String) -> [String] {
        SnowflakeViewReferences.references(in: sql, connection: connection, database: "SALES", schema: "PUBLIC")
            .map { $0.parts.dropFirst().joined(separator: "|") }
    }

    @Test func namesResolveAsSnowflakeResolvesThem() {
        #expect(
            references(
                """
                create or replace view V as
                select o.id, c."name" from orders o join "crm"."Customers" c on c.id = o.cid
                , OTHER_DB.S.T, db2..t2 -- from commented
                where x in (select y from "we""ird 🚀" /* from hidden */) and s = 'from fake'
                """)
                == [
                    "SALES|PUBLIC|ORDERS", "SALES|crm|Customers", "OTHER_DB|S|T", "DB2|PUBLIC|T2",
                    "SALES|PUBLIC|we\"ird 🚀",
                ])
    }

    @Test func cteNamesTableFunctionsAndStagesAreNoRelations() {
        #expect(
            references(
                """
                create view V as with recent (id) as (select id from ORDERS), b as (select 1 from dual)
                select * from recent, lateral flatten(input => x), table(f(1)) , b
                join @stage s on true left join VALUES (1) v on true
                """) == ["SALES|PUBLIC|ORDERS", "SALES|PUBLIC|DUAL"])
    }
}
