import AWSSigV4
import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import GoogleCloud
import HTTPTypes
import HummingbirdTesting
import Metadata
import NIOCore
import NIOHTTP1
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

/// The control plane's Cloud Storage blob store against fake-gcs-server (a real emulator) behind the fake Google
/// endpoints' proxy, which verifies V4 signed URLs as Cloud Storage does (signature, expiry, exact length range,
/// body SHA-256): the store itself, and direct ingestion end to end.
@Suite("Cloud Storage blob store", .serialized)
struct GCSBlobStoreTests {
    static let bucket = "outpost-blobs"

    /// Who signs upload URLs.
    enum Signing: CaseIterable, Sendable {
        /// The server's service account key (GOOG4-RSA-SHA256).
        case key
        /// The metadata server's account, through the fake IAM Credentials' signBlob (GOOG4-RSA-SHA256).
        case iam
        /// An HMAC key of the server's account (GOOG4-HMAC-SHA256); the store's own requests use its key's tokens.
        case hmac
    }

    /// A store whose upload URLs `signing` signs.
    static func store(_ google: TestGoogle, signing: Signing = .key) async throws -> GCSBlobStore {
        let key = try GoogleServiceAccountKey(
            json: Array(Data(contentsOf: URL(fileURLWithPath: google.readerKeyFile))))
        let tokens = GoogleAccessTokens(
            identity: signing == .iam ? .metadataServer(host: google.metadataHost) : .serviceAccount(key),
            client: .shared)
        let credential: GCSSignedURLs.Credential
        switch signing {
        case .key:
            credential = .serviceAccount(key)
        case .iam:
            // The server's account may sign as itself (Service Account Token Creator on itself).
            _ = try google.control(
                "/_fake/service-accounts/token-creators",
                ["email": TestGoogle.reader, "tokenCreators": [TestGoogle.reader]])
            let email = try await tokens.serviceAccountEmail()
            let iam = GoogleIAMSigner(
                tokens: tokens, endpoint: google.endpoints["iamCredentials"] ?? "", client: .shared)
            credential = .remote(email: email) { try await iam.sign($0, as: email) }
        case .hmac:
            credential = .hmac(AWSCredentials(accessKeyId: TestGoogle.hmacAccessId, secretAccessKey: google.hmacSecret))
        }
        return GCSBlobStore(
            client: try GCSClient(bucket: bucket, endpoint: google.storage, tokens: tokens),
            prefix: "control-plane", signer: GCSSignedURLs(credential: credential, endpoint: google.storage),
            policy: try GCSUploadPolicy(chunkSize: 256 * 1024, resumableThreshold: 256 * 1024))
    }

    @Test("put streams small and resumable bodies under the prefix; read, exists and delete follow")
    func roundTrip() async throws {
        let google = try TestGoogle(buckets: [Self.bucket])
        let store = try await Self.store(google)
        for size in [0, 1000, 700_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let info = try await store.put(key: "ten/run/f\(size)", from: Pieces(bytes: bytes, size: 70_000))
            #expect(info == BlobInfo(bytes: Int64(size), sha256: Hex.encode(SHA256.hash(data: bytes))))
            var read: [UInt8] = []
            try await store.read(key: "ten/run/f\(size)") { read += $0 }
            #expect(read == bytes)
            #expect(try await store.client.object(name: "control-plane/ten/run/f\(size)").bytes == Int64(size))
        }
        #expect(try await store.exists(key: "ten/run/f1000"))
        try await store.delete(key: "ten/run/f1000")
        #expect(try await !store.exists(key: "ten/run/f1000"))
        let error = await #expect(throws: BlobError.self) { try await store.read(key: "ten/run/f1000") { _ in } }
        #expect(error?.code == .notFound)
        await #expect(throws: BlobError.self) { try await store.put(key: "../x", from: Pieces(bytes: [1], size: 1)) }
    }

    @Test("gs:// locations are parsed into bucket and prefix; other forms are refused")
    func locations() throws {
        #expect(try GCSBlobStore.parseLocation("gs://my-bucket") == ("my-bucket", ""))
        #expect(try GCSBlobStore.parseLocation("gs://my-bucket//cp/blobs") == ("my-bucket", "cp/blobs"))
        for bad in ["s3://my-bucket", "gs://", "gs://Upper/x", "gs:/my-bucket"] {
            #expect(throws: BlobError.self) { try GCSBlobStore.parseLocation(bad) }
        }
    }

    /// Direct ingestion into the bucket: each grant is a V4 signed URL bound to the object, its exact size and its
    /// SHA-256; the same URL is refused for another body, another object, after it expired or tampered with.
    @Test(arguments: Signing.allCases)
    func directIngestionEndToEnd(signing: Signing) async throws {
        let google = try TestGoogle(buckets: [Self.bucket])
        let store = try await Self.store(google, signing: signing)
        try await DeliveryHarness.serve(blobs: { _ in store }) { harness, client in
            let (assignment, files) = try await client.startOrdersRun(harness)
            let grants = try await client.grants(harness, assignment, for: files)
            func put(_ url: String, _ headers: [String: String], _ body: [UInt8]) async throws -> (UInt, String) {
                var request = HTTPClientRequest(url: url)
                request.method = .PUT
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                return (response.status.code, text)
            }
            for (index, (file, grant)) in zip(files, grants).enumerated() {
                let url = try #require(URLComponents(string: grant.url))
                #expect(grant.url.hasPrefix("\(google.storage)/\(Self.bucket)/control-plane/"))
                #expect(url.path.hasSuffix("/\(assignment.runId)/\(file.path)"))
                let query = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
                #expect(query["X-Goog-Algorithm"] == (signing == .hmac ? "GOOG4-HMAC-SHA256" : "GOOG4-RSA-SHA256"))
                #expect(
                    query["X-Goog-Credential"]?.hasPrefix(
                        signing == .hmac ? TestGoogle.hmacAccessId : TestGoogle.reader)
                        == true)
                #expect(query["X-Goog-SignedHeaders"] == "host;x-goog-content-length-range;x-goog-content-sha256")
                #expect(grant.headers["x-goog-content-length-range"] == "\(file.bytes.count),\(file.bytes.count)")
                #expect(grant.headers["x-goog-content-sha256"] == Hex.encode(SHA256.hash(data: file.bytes)))
                if index == 0 {
                    // Another body of the same size, one byte more, another object, a tampered signature.
                    var other = file.bytes
                    other[other.count / 2] ^= 0x01
                    #expect(try await put(grant.url, grant.headers, other).0 == 400)
                    #expect(try await put(grant.url, grant.headers, file.bytes + [0x20]).0 == 400)
                    let elsewhere = grant.url.replacingOccurrences(of: "/\(file.path)?", with: "/other.json?")
                    #expect(try await put(elsewhere, grant.headers, file.bytes).0 == 403)
                    let signature = try #require(query["X-Goog-Signature"])
                    let flipped = String(signature.dropLast()) + (signature.hasSuffix("0") ? "1" : "0")
                    let tampered = grant.url.replacingOccurrences(of: signature, with: flipped)
                    #expect(try await put(tampered, grant.headers, file.bytes).0 == 403)
                    var unsigned = grant.headers
                    unsigned["x-goog-content-sha256"] = nil
                    #expect(try await put(grant.url, unsigned, file.bytes).0 == 403)
                }
                let (status, text) = try await put(grant.url, grant.headers, file.bytes)
                #expect(status == 200, "\(text)")
            }
            // An hour later (the fake's clock) every grant has expired.
            _ = try google.control("/_fake/clock", ["offsetSeconds": 3600])
            #expect(try await put(grants[0].url, grants[0].headers, files[0].bytes).0 == 400)
            _ = try google.control("/_fake/clock", ["offsetSeconds": 0])

            let completed = try await client.complete(harness, assignment)
            #expect(completed.status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .succeeded, "\(run.error ?? "")")
            let found = try await client.search(harness, "q=orders")
            #expect(found.map(\.qualifiedName) == ["wh/d/s/orders"])
            for file in files {
                #expect(
                    try await harness.blobs.exists(key: "\(harness.tenantA.tenant.id)/\(assignment.runId)/\(file.path)")
                )
            }
        }
        if signing == .iam { #expect(try google.requests("iam") >= 1) }
    }
}
