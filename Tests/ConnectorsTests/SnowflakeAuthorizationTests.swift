import Foundation
import OutpostTesting
import SourceURLs
import Synchronization
import Testing

@testable import Connectors

@Suite struct SnowflakeAuthorizationTests {
    func source(_ account: String, user: String, authenticator: String? = nil) throws -> SnowflakeSource {
        let encodedUser = user.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? user
        return try SnowflakeSource(
            url: "snowflake://\(encodedUser)@\(account)" + (authenticator.map { "?authenticator=\($0)" } ?? ""))
    }

    func jwt(
        pem: String, passphrase: String? = nil, account: String, user: String, iat: Int, exp: Int
    ) throws -> String {
        let source = try source(account, user: user)
        let key = try SnowflakePrivateKey(pem: pem, passphrase: passphrase)
        let subject = "\(source.jwtAccount).\(source.jwtUser)"
        return try SnowflakeAuthorization.jwt(
            key: key, issuer: "\(subject).\(key.fingerprint)", subject: subject, issuedAt: iat, expiresAt: exp)
    }

    @Test func keyPairJWTsMatchSnowflakesPythonDriverByteForByte() throws {
        #expect(
            try jwt(
                pem: SnowflakeTestKeys.plainPKCS8, account: "myorg-myacct.us-east-1", user: "outpost_svc",
                iat: 1_700_000_000, exp: 1_700_000_060) == SnowflakeVendorJWTs.orgAccount)
        #expect(
            try jwt(
                pem: SnowflakeTestKeys.encryptedAES256SHA256, passphrase: SnowflakeTestKeys.passphrase,
                account: "xy12345.eu-west-1", user: "svc.user@example.com", iat: 1_700_000_000, exp: 1_700_003_600)
                == SnowflakeVendorJWTs.locatorAccount)
        #expect(
            try jwt(
                pem: SnowflakeTestKeys.pkcs1, account: "xy12345-abc.global", user: "üser", iat: 1_700_000_000,
                exp: 1_700_000_060) == SnowflakeVendorJWTs.globalAccount)
    }

    /// With the fake's venv present (`Tests/tools/test.sh` sets it up), the driver is asked live as well, for keys and
    /// names these vectors do not cover.
    @Test func keyPairJWTsMatchTheDriverLiveWhenItIsInstalled() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["OUTPOST_TEST_FAKE_SNOWFLAKE_PYTHON"],
            let server = environment["OUTPOST_TEST_FAKE_SNOWFLAKE"]
        else { return }
        let helper = URL(fileURLWithPath: server).deletingLastPathComponent().appendingPathComponent("jwt_reference.py")
        let directory = try TemporaryDirectory()
        let keyPath = directory.path + "/key.pem"
        let passphrasePath = directory.path + "/passphrase"
        try SnowflakeTestKeys.encryptedAES128SHA1.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try "secret".write(toFile: passphrasePath, atomically: true, encoding: .utf8)
        let result = try ChildProcess.run(
            python,
            [
                helper.path, "--key", keyPath, "--passphrase-file", passphrasePath, "--account",
                "MyOrg-Other_Acct.eu-central-1.aws", "--user", "Dotted.User-1", "--iat", "1800000000", "--exp",
                "1800003000",
            ])
        #expect(result.status == 0, "\(result.standardError)")
        let expected = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            try jwt(
                pem: SnowflakeTestKeys.encryptedAES128SHA1, passphrase: "secret",
                account: "MyOrg-Other_Acct.eu-central-1.aws", user: "Dotted.User-1", iat: 1_800_000_000,
                exp: 1_800_003_000) == expected)
    }

    @Test func theFingerprintIsTheSHA256OfTheDERPublicKey() throws {
        for (pem, passphrase) in [
            (SnowflakeTestKeys.plainPKCS8, nil), (SnowflakeTestKeys.pkcs1, nil),
            (SnowflakeTestKeys.encryptedAES256SHA256, SnowflakeTestKeys.passphrase),
            (SnowflakeTestKeys.encryptedAES128SHA1, "secret"),
        ] {
            #expect(
                try SnowflakePrivateKey(pem: pem, passphrase: passphrase).fingerprint == SnowflakeTestKeys.fingerprint)
        }
    }

    @Test(
        arguments: [
            (SnowflakeTestKeys.encryptedAES256SHA256, "canary-wrong-9d1", "passphrase is wrong"),
            (SnowflakeTestKeys.encryptedAES256SHA256, nil, "encrypted: give its passphrase"),
            (SnowflakeTestKeys.encryptedDES3, "secret", "not supported"),
            ("not a key", nil, "not PEM"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", nil, "CERTIFICATE"),
            ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----", nil, "base64"),
            ("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----", nil, "2048"),
        ] as [(String, String?, String)])
    func unreadableKeysAreRefusedWithoutQuotingThem(pem: String, passphrase: String?, fragment: String) {
        let error = #expect(throws: ConnectorError.self) { try SnowflakePrivateKey(pem: pem, passphrase: passphrase) }
        #expect(error?.code == .invalidSource)
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("MII") != true)
        #expect(error?.message.contains(passphrase ?? "\u{0}") != true)
    }

    @Test func theJWTIsRenewedBeforeItExpires() throws {
        let clock = Mutex(1_700_000_000)
        let authorization = try SnowflakeAuthorization(
            source: try source("myorg-myacct", user: "u"),
            credentials: .keyPair(privateKeyPEM: SnowflakeTestKeys.plainPKCS8, passphrase: nil),
            now: { clock.withLock { $0 } })
        let first = try authorization.header()
        #expect(first.tokenType == "KEYPAIR_JWT")
        clock.withLock { $0 += 44 }
        #expect(try authorization.header().authorization == first.authorization)
        clock.withLock { $0 += 2 }
        let renewed = try authorization.header()
        #expect(renewed.authorization != first.authorization)
        let claims = try #require(renewed.authorization.split(separator: ".").dropFirst().first)
        var base64 = claims.replacing("-", with: "+").replacing("_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        let text = String(decoding: Data(base64Encoded: String(base64)) ?? Data(), as: UTF8.self)
        #expect(text.contains(#""iat":1700000046,"exp":1700000106"#))
    }

    @Test func tokensAreSentWithTheirType() throws {
        let oauth = try SnowflakeAuthorization(
            source: try source("myorg-myacct", user: "u", authenticator: "oauth"), credentials: .token("tok"))
        #expect(try oauth.header().authorization == "Bearer tok")
        #expect(try oauth.header().tokenType == "OAUTH")
        let pat = try SnowflakeAuthorization(
            source: try source("myorg-myacct", user: "u", authenticator: "programmatic_access_token"),
            credentials: .token("pat"))
        #expect(try pat.header().tokenType == "PROGRAMMATIC_ACCESS_TOKEN")
    }

    @Test func credentialsThatDoNotFitTheAuthenticatorAreRefused() throws {
        let keyPair = try source("myorg-myacct", user: "u")
        #expect(throws: ConnectorError.self) { try SnowflakeAuthorization(source: keyPair, credentials: nil) }
        #expect(throws: ConnectorError.self) { try SnowflakeAuthorization(source: keyPair, credentials: .token("t")) }
        let oauth = try source("myorg-myacct", user: "u", authenticator: "oauth")
        #expect(throws: ConnectorError.self) {
            try SnowflakeAuthorization(
                source: oauth, credentials: .keyPair(privateKeyPEM: SnowflakeTestKeys.plainPKCS8, passphrase: nil))
        }
        #expect(throws: ConnectorError.self) { try SnowflakeAuthorization(source: oauth, credentials: .token("a b")) }
        #expect("\(SnowflakeCredentials.token("canary-token"))".contains("canary") == false)
        #expect(
            "\(SnowflakeCredentials.keyPair(privateKeyPEM: SnowflakeTestKeys.plainPKCS8, passphrase: "p"))"
                .contains("MII") == false)
    }
}
