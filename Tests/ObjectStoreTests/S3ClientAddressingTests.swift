import AWSSigV4
import NIOSSL
import ObjectStore
import OutpostProtocol
import Relay
import Testing

/// URL construction, key encoding and argument checks: pure logic, no server.
@Suite("S3 client addressing")
struct S3ClientAddressingTests {
    static let credentials = AWSCredentialSource.fixed(AWSCredentials(accessKeyId: "AKID", secretAccessKey: "secret"))

    @Test("AWS endpoints default to virtual-hosted URLs with the bucket in the host")
    func virtualHostedOnAWS() throws {
        let client = try S3Client(
            bucket: "acme-metadata", configuration: .init(region: "eu-west-1", credentials: Self.credentials))
        #expect(client.configuration.addressingStyle == .virtualHosted)
        #expect(
            client.url(forKey: "outpost/pg/run-1/manifest.json")
                == "https://acme-metadata.s3.eu-west-1.amazonaws.com/outpost/pg/run-1/manifest.json")
    }

    @Test("custom endpoints default to path-style URLs with the bucket as the first segment")
    func pathStyleOnCustomEndpoints() throws {
        let client = try S3Client(
            bucket: "relay",
            configuration: .init(endpoint: "http://127.0.0.1:9000/", region: "us-east-1", credentials: Self.credentials)
        )
        #expect(client.configuration.addressingStyle == .path)
        #expect(client.url(forKey: "a/b.json") == "http://127.0.0.1:9000/relay/a/b.json")
    }

    @Test("either style can be forced", arguments: S3Configuration.AddressingStyle.allCases)
    func forcedStyle(style: S3Configuration.AddressingStyle) throws {
        let client = try S3Client(
            bucket: "relay",
            configuration: .init(
                endpoint: "https://minio.internal:9000", region: "us-east-1", addressingStyle: style,
                credentials: Self.credentials))
        let expected =
            style == .path ? "https://minio.internal:9000/relay/k.json" : "https://relay.minio.internal:9000/k.json"
        #expect(client.url(forKey: "k.json") == expected)
    }

    @Test(
        "keys are percent-encoded per segment: slashes kept, spaces, plus, unicode and reserved characters encoded",
        arguments: [
            ("dir/file with space.txt", "dir/file%20with%20space.txt"),
            ("plus+sign", "plus%2Bsign"),
            ("ünï/日本", "%C3%BCn%C3%AF/%E6%97%A5%E6%9C%AC"),
            ("a//double/", "a//double/"),
            ("q?x=1&y#z", "q%3Fx%3D1%26y%23z"),
            ("literal%20", "literal%2520"),
            ("safe-._~chars", "safe-._~chars"),
        ])
    func keyEncoding(key: String, encoded: String) throws {
        let client = try S3Client(
            bucket: "relay",
            configuration: .init(endpoint: "http://localhost:1", region: "us-east-1", credentials: Self.credentials))
        #expect(client.url(forKey: key) == "http://localhost:1/relay/" + encoded)
    }

    @Test("bad bucket names, regions and endpoints are refused before any request")
    func invalidConfiguration() {
        let good = S3Configuration(region: "us-east-1", credentials: Self.credentials)
        for bucket in ["", "ab", "Upper", "-dash", "has space", String(repeating: "a", count: 64)] {
            #expect(throws: ObjectStoreError.self) { try S3Client(bucket: bucket, configuration: good) }
        }
        #expect(throws: ObjectStoreError.self) {
            try S3Client(bucket: "ok-bucket", configuration: .init(region: "us east", credentials: Self.credentials))
        }
        #expect(throws: ObjectStoreError.self) {
            try S3Client(
                bucket: "ok-bucket",
                configuration: .init(endpoint: "ftp://host", region: "us-east-1", credentials: Self.credentials))
        }
        #expect(throws: ObjectStoreError.self) {
            try S3Client(
                bucket: "ok-bucket",
                configuration: .init(endpoint: "https://host/path", region: "us-east-1", credentials: Self.credentials)
            )
        }
        // Dotted buckets break TLS certificates for virtual-hosted addressing on https.
        #expect(throws: ObjectStoreError.self) { try S3Client(bucket: "acme.metadata", configuration: good) }
    }

    @Test("https requests never accept less than TLS 1.2, whatever TLS configuration is given")
    func tlsMinimum() throws {
        #expect(
            S3Configuration(region: "eu-west-1", credentials: Self.credentials)
                .effectiveTLSConfiguration.minimumTLSVersion == .tlsv12)
        var lax = TLSConfiguration.makeClientConfiguration()
        lax.minimumTLSVersion = .tlsv1
        let configured = S3Configuration(region: "eu-west-1", credentials: Self.credentials, tlsConfiguration: lax)
        #expect(configured.effectiveTLSConfiguration.minimumTLSVersion == .tlsv12)
        var strict = TLSConfiguration.makeClientConfiguration()
        strict.minimumTLSVersion = .tlsv13
        let stricter = S3Configuration(region: "eu-west-1", credentials: Self.credentials, tlsConfiguration: strict)
        #expect(stricter.effectiveTLSConfiguration.minimumTLSVersion == .tlsv13)
        let client = try S3Client(
            bucket: "acme-metadata", configuration: .init(region: "eu-west-1", credentials: Self.credentials))
        #expect(client.requestHost == "acme-metadata.s3.eu-west-1.amazonaws.com")
    }

    @Test("a relay target gives the client its bucket, endpoint, region and encryption")
    func relayTarget() throws {
        let relay = RelayTarget(
            bucket: "customer-bucket", prefix: "outpost/", region: "eu-central-1", endpoint: "http://127.0.0.1:4566",
            serverSideEncryption: "aws:kms", kmsKeyId: "alias/outpost")
        let client = try S3Client(relay: relay, credentials: Self.credentials)
        #expect(client.bucket == "customer-bucket")
        #expect(client.configuration.region == "eu-central-1")
        #expect(client.url(forKey: "k") == "http://127.0.0.1:4566/customer-bucket/k")
        #expect(try ServerSideEncryption(relay: relay) == .kms(keyId: "alias/outpost"))
        #expect(relay.runPrefix(connectionId: "pg", runId: "r1") == "outpost/pg/r1/")
        #expect(throws: ObjectStoreError.self) { try ServerSideEncryption(name: "DES") }
        #expect(throws: ObjectStoreError.self) { try ServerSideEncryption(name: "AES256", kmsKeyId: "k") }
    }

    @Test(
        "a relay prefix is a folder: a separator follows it whether or not it ends in one",
        arguments: [
            ("chaos", "chaos/pg/r1/"), ("chaos/", "chaos/pg/r1/"), ("a/b", "a/b/pg/r1/"), ("", "pg/r1/"),
        ])
    func relayRunPrefix(prefix: String, expected: String) {
        let relay = RelayTarget(bucket: "customer-bucket", prefix: prefix, region: "eu-central-1")
        #expect(relay.runPrefix(connectionId: "pg", runId: "r1") == expected)
    }

    @Test("part sizes below S3's minimum are refused unless a test server allows them")
    func uploadPolicy() throws {
        #expect(throws: ObjectStoreError.self) { try S3UploadPolicy(partSize: 1024 * 1024) }
        let small = try S3UploadPolicy(partSize: 1024, multipartThreshold: 1024, minimumPartSize: 1024)
        #expect(small.partSize == 1024)
        #expect(S3UploadPolicy.standard.partSize >= S3UploadPolicy.s3MinimumPartSize)
    }

    @Test(
        "retryability is decided by status and code",
        arguments: [
            (ObjectStoreError(.network, "x"), true),
            (ObjectStoreError("SlowDown", "x", status: 503), true),
            (ObjectStoreError("RequestTimeout", "x", status: 400), true),
            (ObjectStoreError("InternalError", "x", status: 500), true),
            (ObjectStoreError(.httpStatus, "x", status: 429), true),
            (ObjectStoreError(.httpStatus, "x", status: 408), true),
            (ObjectStoreError(.httpStatus, "x", status: 502), true),
            (ObjectStoreError(.httpStatus, "x", status: 504), true),
            (ObjectStoreError(.noSuchKey, "x", status: 404), false),
            (ObjectStoreError(.accessDenied, "x", status: 403), false),
            (ObjectStoreError(.signatureDoesNotMatch, "x", status: 403), false),
            (ObjectStoreError(.invalidArgument, "x"), false),
            (ObjectStoreError(.tls, "x"), false),
        ])
    func retryable(error: ObjectStoreError, retryable: Bool) {
        #expect(error.isRetryable == retryable)
    }
}
