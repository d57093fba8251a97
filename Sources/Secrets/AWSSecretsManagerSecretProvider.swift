public import AWSSigV4
public import AsyncHTTPClient
internal import Foundation
public import NIOCore
internal import NIOHTTP1

/// Resolves `aws-sm:<secret id or ARN>[#field]` with AWS Secrets Manager's `GetSecretValue`, signed with SigV4.
///
/// Credentials come from the standard environment variables, or from a web-identity token file exchanged with
/// STS (`AssumeRoleWithWebIdentity`, as on EKS); they are fetched when a secret is resolved, never cached
/// beyond their expiry. Responses are bounded in size; errors name the secret id and AWS's error code, never a
/// value or a credential.
public struct AWSSecretsManagerSecretProvider: SecretProvider {
    public var store: SecretReference.Store { .awsSecretsManager }
    /// The HTTP client for a host (Secrets Manager's, STS's): the caller decides which go through a proxy.
    public let client: @Sendable (_ host: String) -> HTTPClient
    public let environment: AWSEnvironment
    public let timeout: TimeAmount

    public init(client: HTTPClient, environment: AWSEnvironment, timeout: TimeAmount = .seconds(15)) {
        self.init(clientForHost: { _ in client }, environment: environment, timeout: timeout)
    }

    public init(
        clientForHost: @escaping @Sendable (_ host: String) -> HTTPClient, environment: AWSEnvironment,
        timeout: TimeAmount = .seconds(15)
    ) {
        self.client = clientForHost
        self.environment = environment
        self.timeout = timeout
    }

    public func resolve(_ reference: SecretReference) async throws -> String {
        guard let region = environment.region ?? Self.region(fromARN: reference.locator) else {
            throw SecretError(
                .unreadable, "cannot resolve \(reference): set AWS_REGION (or use the secret's full ARN)")
        }
        let credentials = try await self.credentials(region: region)
        let endpoint = environment.endpoint(
            serviceEnvironmentName: "SECRETS_MANAGER", host: "secretsmanager", region: region)
        let body = try JSONEncoder().encode(["SecretId": reference.locator])
        let response = try await signedPost(
            endpoint: endpoint, service: "secretsmanager", region: region, credentials: credentials,
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "secretsmanager.GetSecretValue"),
            ], body: Array(body), reference: reference)
        guard response.status == .ok else {
            throw SecretError(
                response.errorCode?.contains("ResourceNotFound") == true ? .notFound : .unreadable,
                "AWS Secrets Manager refused \(reference): \(response.errorCode ?? "HTTP \(response.status.code)")")
        }
        struct Value: Decodable {
            let secretString: String?
            enum CodingKeys: String, CodingKey { case secretString = "SecretString" }
        }
        guard let value = try? JSONDecoder().decode(Value.self, from: Data(response.body)),
            let secret = value.secretString
        else {
            throw SecretError(.invalidFormat, "AWS Secrets Manager returned no SecretString for \(reference)")
        }
        return secret
    }

    /// Static credentials, or temporary ones from a web-identity token.
    func credentials(region: String) async throws -> AWSCredentials {
        switch environment.credentialSource(region: region) {
        case .fixed(let credentials):
            return credentials
        case .webIdentity(let identity):
            let token = try await FileSecretProvider().resolve(
                SecretReference(store: .file, locator: identity.tokenFile))
            var request = HTTPClientRequest(url: identity.stsEndpoint + "/")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: STSWebIdentityExchange.formBody(identity, token: token)))
            let response = try await client(Self.hostName(of: identity.stsEndpoint)).execute(request, timeout: timeout)
            let text = String(buffer: try await response.body.collect(upTo: 256 * 1024))
            guard response.status == .ok, let answer = STSWebIdentityExchange.credentials(fromResponse: text) else {
                throw SecretError(
                    .unreadable,
                    "STS refused the web identity token for role \(identity.roleARN): HTTP \(response.status.code)")
            }
            return answer.credentials
        case nil:
            throw SecretError(.unreadable, "no AWS credentials: \(AWSEnvironment.missingCredentialsAdvice)")
        }
    }

    struct Response {
        let status: HTTPResponseStatus
        let body: [UInt8]
        var errorCode: String? {
            struct Failure: Decodable {
                let type: String?
                enum CodingKeys: String, CodingKey { case type = "__type" }
            }
            return (try? JSONDecoder().decode(Failure.self, from: Data(body)))?.type
        }
    }

    private func signedPost(
        endpoint: String, service: String, region: String, credentials: AWSCredentials,
        headers: [(String, String)], body: [UInt8], reference: SecretReference
    ) async throws -> Response {
        let host = Self.host(of: endpoint)
        let signer = SigV4Signer(region: region, service: service)
        let unsigned = SigV4Request(
            method: "POST", path: "/", headers: [("Host", host)] + headers.map { ($0.0, $0.1) },
            payloadHash: SigV4Signer.sha256Hex(body))
        let now = AWSTimestamp(secondsSince1970: Int64(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: endpoint + "/")
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        for header in signer.sign(unsigned, credentials: credentials, date: now) {
            request.headers.add(name: header.name, value: header.value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client(Self.hostName(of: endpoint)).execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 1024 * 1024)
            return Response(status: response.status, body: Array(buffer: bytes))
        } catch let error as SecretError {
            throw error
        } catch {
            throw SecretError(.unreadable, "cannot reach AWS Secrets Manager for \(reference): \(error)")
        }
    }

    /// The region inside an ARN (`arn:aws:secretsmanager:<region>:…`).
    static func region(fromARN locator: String) -> String? {
        let parts = locator.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count > 4, parts[0] == "arn", !parts[3].isEmpty else { return nil }
        return String(parts[3])
    }

    /// `https://host[:port]` → `host[:port]`, as the `Host` header has it.
    static func host(of endpoint: String) -> String {
        endpoint.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? endpoint
    }

    /// `https://host[:port]` → `host`, the name a client is chosen by.
    static func hostName(of endpoint: String) -> String {
        (URLComponents(string: endpoint)?.host ?? host(of: endpoint)).trimmingCharacters(
            in: CharacterSet(charactersIn: "[]"))
    }
}
