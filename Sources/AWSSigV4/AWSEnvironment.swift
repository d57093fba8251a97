/// AWS settings from the standard environment variables, as the AWS CLI and SDKs read them.
public struct AWSEnvironment: Sendable {
    public var region: String?
    /// Static credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    public var credentials: AWSCredentials?
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (EKS service-account roles).
    public var webIdentityTokenFile: String?
    public var roleARN: String?
    public var roleSessionName: String?
    private let endpoints: [String: String]

    public init(_ environment: [String: String]) {
        region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
        if let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"],
            !key.isEmpty, !secret.isEmpty
        {
            credentials = AWSCredentials(
                accessKeyId: key, secretAccessKey: secret,
                sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        }
        webIdentityTokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"]
        roleARN = environment["AWS_ROLE_ARN"]
        roleSessionName = environment["AWS_ROLE_SESSION_NAME"]
        var endpoints: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("AWS_ENDPOINT_URL") && !value.isEmpty {
            endpoints[name] = value
        }
        self.endpoints = endpoints
    }

    /// The endpoint for a service: `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `SECRETS_MANAGER`, `STS`, `S3`), then
    /// `AWS_ENDPOINT_URL`, then AWS's regional endpoint.
    public func endpoint(serviceEnvironmentName: String, host: String, region: String) -> String {
        endpoints["AWS_ENDPOINT_URL_\(serviceEnvironmentName)"] ?? endpoints["AWS_ENDPOINT_URL"]
            ?? "https://\(host).\(region).amazonaws.com"
    }
}
