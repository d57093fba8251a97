public import AWSSigV4
internal import Logging
internal import ObjectStore
internal import OutpostProtocol
internal import Relay

/// The control plane's own read-only access to customers' relay buckets.
///
/// Credentials are the server process's (the standard AWS variables, or a web-identity role on EKS); each customer
/// grants that role read access to its bucket, and the agent's credentials never reach the server. A connection
/// may name an S3-compatible endpoint, but the server sends its signed requests only to AWS or to endpoints the
/// operator allowed, so a connection cannot point the server's credentials at an arbitrary host.
public struct RelayReader: Sendable {
    /// Where the server's AWS credentials come from.
    public let environment: AWSEnvironment
    /// S3-compatible endpoints (`https://host[:port]`) connections may name; AWS is always allowed.
    public let allowedEndpoints: Set<String>

    /// Creates the server's reader.
    ///
    /// - Parameters:
    ///   - environment: the server process's AWS environment.
    ///   - allowedEndpoints: endpoints besides AWS that relay connections may use; a trailing `/` is ignored.
    public init(environment: AWSEnvironment, allowedEndpoints: [String] = []) {
        self.environment = environment
        self.allowedEndpoints = Set(allowedEndpoints.map(Self.normalize))
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
        if let endpoint = target.endpoint, !allowedEndpoints.contains(Self.normalize(endpoint)) {
            throw IngestionError(
                "the connection's relay endpoint \(endpoint) is not among the endpoints this control plane may read "
                    + "(outpost server --relay-endpoint)")
        }
        guard let credentials = environment.credentialSource(region: target.region) else {
            throw IngestionError(
                "this control plane has no AWS credentials to read relay bucket \(target.bucket): "
                    + AWSEnvironment.missingCredentialsAdvice)
        }
        let client: S3Client
        do {
            client = try S3Client(relay: target, credentials: credentials)
        } catch let error as ObjectStoreError {
            throw IngestionError("the connection's relay bucket cannot be addressed: \(error.message)")
        }
        return RelayDeliverySource(client: client, objects: objects)
    }
}
