public import AWSSigV4
public import NIOCore
public import NIOSSL

/// Where a bucket lives and how to reach it: endpoint, region, addressing style, credentials and timeouts.
///
/// A plain value: build it from flags, environment or a `RelayTarget`, then hand it to `S3Client`.
public struct S3Configuration: Sendable {
    /// How the bucket appears in request URLs.
    public enum AddressingStyle: String, Sendable, CaseIterable {
        /// `https://endpoint/bucket/key`: S3-compatible stores, buckets with dots in their names, local servers.
        case path
        /// `https://bucket.endpoint/key`: AWS's preferred style.
        case virtualHosted
    }

    /// `http[s]://host[:port]` without a path, or nil for AWS (`https://s3.<region>.amazonaws.com`).
    public var endpoint: String?
    /// The signing region (`us-east-1`).
    public var region: String
    /// How the bucket appears in URLs.
    public var addressingStyle: AddressingStyle
    /// Where the signing credentials come from.
    public var credentials: AWSCredentialSource
    /// The limit on a request without a large body (HEAD, DELETE, listing, multipart bookkeeping).
    public var requestTimeout: TimeAmount
    /// The limit on a request that moves an object or a part (PUT, GET, UploadPart), body included.
    public var transferTimeout: TimeAmount
    /// TLS for https endpoints (custom trust roots, client certificates); nil uses the platform's trust roots.
    /// Whatever is given, the client never accepts less than TLS 1.2.
    public var tlsConfiguration: TLSConfiguration?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - endpoint: nil for AWS; otherwise `http[s]://host[:port]` (a trailing `/` is ignored).
    ///   - addressingStyle: defaults to virtual-hosted for AWS and path style for any other endpoint.
    public init(
        endpoint: String? = nil, region: String, addressingStyle: AddressingStyle? = nil,
        credentials: AWSCredentialSource, requestTimeout: TimeAmount = .seconds(30),
        transferTimeout: TimeAmount = .minutes(10), tlsConfiguration: TLSConfiguration? = nil
    ) {
        var endpoint = endpoint
        while let trimmed = endpoint, trimmed.hasSuffix("/") { endpoint = String(trimmed.dropLast()) }
        self.endpoint = endpoint.flatMap { $0.isEmpty ? nil : $0 }
        self.region = region
        self.addressingStyle = addressingStyle ?? (self.endpoint == nil ? .virtualHosted : .path)
        self.credentials = credentials
        self.requestTimeout = requestTimeout
        self.transferTimeout = transferTimeout
        self.tlsConfiguration = tlsConfiguration
    }

    /// The TLS every https request uses: the configured one (or the platform's defaults) raised to TLS 1.2 at least.
    public var effectiveTLSConfiguration: TLSConfiguration {
        var configuration = tlsConfiguration ?? TLSConfiguration.makeClientConfiguration()
        switch configuration.minimumTLSVersion {
        case .tlsv1, .tlsv11: configuration.minimumTLSVersion = .tlsv12
        case .tlsv12, .tlsv13: break
        }
        return configuration
    }

    /// The endpoint requests go to, before the bucket is placed in it.
    public var resolvedEndpoint: String { endpoint ?? "https://s3.\(region).amazonaws.com" }

    /// Checks what can be checked before any request: region, endpoint scheme and host.
    public func validate() throws(ObjectStoreError) {
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw ObjectStoreError(.invalidArgument, "the S3 region '\(region)' is not a region name")
        }
        let endpoint = resolvedEndpoint
        guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://") else {
            throw ObjectStoreError(.invalidArgument, "the S3 endpoint must start with https:// or http://")
        }
        let host = SigV4Signer.host(of: endpoint)
        guard !host.isEmpty, !endpoint.dropFirst(endpoint.hasPrefix("https://") ? 8 : 7).contains("/") else {
            throw ObjectStoreError(.invalidArgument, "the S3 endpoint must be scheme://host[:port] without a path")
        }
    }
}

/// Server-side encryption asked of S3 for every object written.
public enum ServerSideEncryption: Sendable, Equatable {
    /// S3-managed keys (`AES256`).
    case aes256
    /// AWS KMS (`aws:kms`), with the bucket's default key when `keyId` is nil.
    case kms(keyId: String?)

    /// Parses the wire names `AES256` and `aws:kms`.
    public init(name: String, kmsKeyId: String? = nil) throws(ObjectStoreError) {
        switch name {
        case "AES256":
            guard kmsKeyId == nil else {
                throw ObjectStoreError(.invalidArgument, "a KMS key id needs server-side encryption 'aws:kms'")
            }
            self = .aes256
        case "aws:kms": self = .kms(keyId: kmsKeyId.flatMap { $0.isEmpty ? nil : $0 })
        default:
            throw ObjectStoreError(
                .invalidArgument, "server-side encryption '\(name)' is not supported: use 'AES256' or 'aws:kms'")
        }
    }

    /// The `x-amz-server-side-encryption` value.
    public var name: String {
        switch self {
        case .aes256: return "AES256"
        case .kms: return "aws:kms"
        }
    }

    /// The headers asking for this encryption on PUT, CreateMultipartUpload and pre-signed PUTs.
    public var headers: [(name: String, value: String)] {
        switch self {
        case .aes256: return [("x-amz-server-side-encryption", "AES256")]
        case .kms(let keyId):
            return [("x-amz-server-side-encryption", "aws:kms")]
                + (keyId.map { [("x-amz-server-side-encryption-aws-kms-key-id", $0)] } ?? [])
        }
    }
}
