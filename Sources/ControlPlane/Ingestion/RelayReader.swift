public import AWSSigV4
public import AsyncHTTPClient
public import AzureCloud
public import GoogleCloud
internal import Logging
public import NIOSSL
internal import ObjectStore
internal import OutpostProtocol
internal import Relay

/// The control plane's own read-only access to customers' relay buckets.
///
/// Credentials are the server process's: for S3 the standard AWS variables or a web-identity role on EKS; for
/// Cloud Storage its Google identity (a service account key named by `GOOGLE_APPLICATION_CREDENTIALS`, or the
/// metadata server on GCE/GKE) with the read-only storage scope. Each customer grants that identity read access to
/// its bucket, and the agent's credentials never reach the server. A connection may name another endpoint, but the
/// server sends its signed requests and tokens only to the cloud's own endpoint or to endpoints the operator
/// allowed, so a connection cannot point the server's credentials at an arbitrary host.
public struct RelayReader: Sendable {
    /// Where the server's AWS credentials come from.
    public let environment: AWSEnvironment
    /// S3-compatible or Cloud Storage endpoints (`https://host[:port]`) connections may name; AWS's and Google's
    /// own are always allowed.
    public let allowedEndpoints: Set<String>
    /// The server's Google identity, for Cloud Storage relays; nil: none configured.
    public let google: GoogleAccessTokens?
    /// The server's Entra ID identity, for Azure Blob Storage relays; nil: none configured.
    public let azure: AzureAccessTokens?
    /// The HTTP client every read goes through.
    public let httpClient: HTTPClient
    /// Set on every https request when given (trust roots for endpoints with a private CA, `outpost server
    /// --ca-bundle`); nil: each store's default, the system's trust roots.
    public let tlsConfiguration: TLSConfiguration?

    /// Creates the server's reader.
    ///
    /// - Parameters:
    ///   - environment: the server process's AWS environment.
    ///   - allowedEndpoints: endpoints besides AWS that relay connections may use; a trailing `/` is ignored.
    ///   - google: the server's Google identity, for Cloud Storage relay buckets.
    ///   - azure: the server's Entra ID identity, for Azure Blob Storage containers.
    ///   - httpClient: the client reads go through.
    ///   - tlsConfiguration: set on every https request; nil: the system's trust roots.
    public init(
        environment: AWSEnvironment, allowedEndpoints: [String] = [], google: GoogleAccessTokens? = nil,
        azure: AzureAccessTokens? = nil, httpClient: HTTPClient = .shared, tlsConfiguration: TLSConfiguration? = nil
    ) {
        self.environment = environment
        self.allowedEndpoints = Set(allowedEndpoints.map(Self.normalize))
        self.google = google
        self.azure = azure
        self.httpClient = httpClient
        self.tlsConfiguration = tlsConfiguration
    }

    static func normalize(_ endpoint: String) -> String {
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        return endpoint
    }

    /// A source reading the reported objects of one run from the connection's bucket.
    ///
    /// - Throws: `IngestionError` when the endpoint is not allowed, no credentials are configured, or the target
    ///   cannot be addressed.
    func source(target: RelayTarget, objects: CompleteRequest.RelayObjects) throws -> RelayDeliverySource {
        let ownEndpoint: String? =
            switch target.kind {
            case .s3: nil
            case .gcs: GCSClient.defaultEndpoint
            case .azureBlob: "https://\(target.account ?? "").blob.core.windows.net"
            }
        if let endpoint = target.endpoint, Self.normalize(endpoint) != ownEndpoint,
            !allowedEndpoints.contains(Self.normalize(endpoint))
        {
            throw IngestionError(
                "the connection's relay endpoint \(endpoint) is not among the endpoints this control plane may read "
                    + "(outpost server --relay-endpoint)")
        }
        switch target.kind {
        case .s3:
            guard let credentials = environment.credentialSource(region: target.region ?? "us-east-1") else {
                throw IngestionError(
                    "this control plane has no AWS credentials to read relay bucket \(target.bucket): "
                        + AWSEnvironment.missingCredentialsAdvice)
            }
            do {
                let client = try S3Client(
                    relay: target, credentials: credentials, httpClient: httpClient,
                    tlsConfiguration: tlsConfiguration)
                return RelayDeliverySource(client: client, target: target, objects: objects)
            } catch let error as ObjectStoreError {
                throw IngestionError("the connection's relay bucket cannot be addressed: \(error.message)")
            }
        case .azureBlob:
            guard let azure else {
                throw IngestionError(
                    "this control plane has no Entra ID identity to read relay container \(target.location()): run it "
                        + "with workload identity or a managed identity")
            }
            do {
                let client = try AzureBlobClient(
                    relay: target, authorization: .bearer(azure), httpClient: httpClient,
                    tlsConfiguration: tlsConfiguration)
                return RelayDeliverySource(client: client, target: target, objects: objects)
            } catch let error as ObjectStoreError {
                throw IngestionError("the connection's relay container cannot be addressed: \(error.message)")
            }
        case .gcs:
            guard let google else {
                throw IngestionError(
                    "this control plane has no Google identity to read relay bucket \(target.location()): set "
                        + "GOOGLE_APPLICATION_CREDENTIALS or run it where a metadata server answers")
            }
            do {
                let client = try GCSClient(
                    relay: target, tokens: google, scope: GCSClient.readOnlyScope, httpClient: httpClient,
                    tlsConfiguration: tlsConfiguration ?? GCSClient.defaultTLS)
                return RelayDeliverySource(client: client, target: target, objects: objects)
            } catch let error as ObjectStoreError {
                throw IngestionError("the connection's relay bucket cannot be addressed: \(error.message)")
            }
        }
    }
}
