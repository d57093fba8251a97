import AWSSigV4
import AsyncHTTPClient
import Foundation
import OutpostTesting
import Secrets
import Testing

/// AWS Secrets Manager through a real moto server: plain, with signatures enforced, and with web identity.
@Suite("AWS Secrets Manager provider", .serialized)
struct AWSSecretsManagerTests {
    static let canary = "Canary-\(UUID().uuidString)"

    static func resolve(_ reference: String, environment: [String: String]) async throws -> String {
        let provider = AWSSecretsManagerSecretProvider(client: .shared, environment: AWSEnvironment(environment))
        let resolver = SecretResolver(providers: [provider])
        return try await resolver.resolve(try SecretReference(parsing: reference))
    }

    @Test("a JSON secret's field resolves; a missing secret is a clear error without the value")
    func resolvesFromMoto() async throws {
        let moto = try TestMoto()
        try moto.boto3(
            """
            client('secretsmanager').create_secret(Name='prod/pg', SecretString=json.dumps({'password': sys.argv[1]}))
            """.replacingOccurrences(of: "sys.argv[1]", with: "'\(Self.canary)'"))
        #expect(try await Self.resolve("aws-sm:prod/pg#password", environment: moto.environment()) == Self.canary)
        do {
            _ = try await Self.resolve("aws-sm:prod/missing#password", environment: moto.environment())
            Issue.record("a missing secret resolved")
        } catch let error as SecretError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("prod/missing"))
            #expect(!error.message.contains(Self.canary))
        }
    }

    @Test("header-signed requests are accepted by a signature-checking moto and a wrong key is refused")
    func signatureEnforced() async throws {
        let moto = try TestMoto(enforcingAuthAfter: 4)
        let keys = try moto.boto3(
            """
            iam = client('iam')
            iam.create_user(UserName='outpost')
            key = iam.create_access_key(UserName='outpost')['AccessKey']
            iam.put_user_policy(UserName='outpost', PolicyName='all', PolicyDocument=json.dumps(
                {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
            client('secretsmanager').create_secret(Name='prod/key', SecretString='\(Self.canary)')
            print(key['AccessKeyId'], key['SecretAccessKey'])
            """
        ).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let accessKey = try #require(keys.first)
        let secretKey = try #require(keys.last)
        let value = try await Self.resolve(
            "aws-sm:prod/key", environment: moto.environment(accessKey: accessKey, secretKey: secretKey))
        #expect(value == Self.canary)
        do {
            _ = try await Self.resolve(
                "aws-sm:prod/key", environment: moto.environment(accessKey: accessKey, secretKey: "wrong-secret"))
            Issue.record("a wrong secret key was accepted")
        } catch let error as SecretError {
            #expect(error.message.contains("SignatureDoesNotMatch") || error.message.contains("403"))
            #expect(!error.message.contains("wrong-secret"))
            #expect(!error.message.contains(secretKey))
        }
    }

    @Test("credentials come from a web-identity token exchanged with STS")
    func webIdentity() async throws {
        let moto = try TestMoto()
        try moto.boto3("client('secretsmanager').create_secret(Name='wi/secret', SecretString='\(Self.canary)')")
        let directory = try TemporaryDirectory()
        let tokenFile = directory.path + "/token"
        try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdXRwb3N0In0.c2lnbmF0dXJl".write(
            toFile: tokenFile, atomically: true, encoding: .utf8)
        let environment = [
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.url, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/outpost",
        ]
        #expect(try await Self.resolve("aws-sm:wi/secret", environment: environment) == Self.canary)
    }

    @Test("without credentials or region the error says what to set")
    func missingConfiguration() async throws {
        await #expect(throws: SecretError.self) {
            _ = try await Self.resolve("aws-sm:x", environment: ["AWS_REGION": "us-east-1"])
        }
        do {
            _ = try await Self.resolve("aws-sm:x", environment: [:])
        } catch let error as SecretError {
            #expect(error.message.contains("AWS_REGION"))
        }
    }
}
