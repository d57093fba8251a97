import AWSSigV4
import AsyncHTTPClient
import ControlPlane
import ControlPlaneStorage
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Metadata
import NIOCore
import NIOHTTP1
import ObjectStore
import OutpostProtocol
import OutpostTesting
import Testing

/// The control plane's S3 blob store against a real moto server: the store itself, and direct ingestion end to end
/// with the agent's uploads going straight into the bucket.
@Suite("S3 blob store", .serialized)
struct S3BlobStoreTests {
    static let bucket = "outpost-blobs"

    static func store(_ moto: TestMoto, partSize: Int = 16 * 1024 * 1024) throws -> S3BlobStore {
        try moto.boto3("client('s3').create_bucket(Bucket='\(bucket)')")
        let client = try S3Client(
            bucket: bucket,
            configuration: S3Configuration(
                endpoint: moto.url, region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "server", secretAccessKey: "server-secret"))))
        return S3BlobStore(client: client, prefix: "control-plane", partSize: partSize)
    }

    @Test("put streams small and multipart bodies, encrypted, under the prefix; read, exists and delete follow")
    func roundTrip() async throws {
        let partSize = 256 * 1024
        let moto = try TestMoto(settings: ["S3_UPLOAD_PART_MIN_SIZE": String(partSize)])
        let store = try Self.store(moto, partSize: partSize)
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1000, 3 * partSize + 777] {
            let content = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let key = "tenant/run/records-\(size).jsonl.gz"
            let info = try await store.put(key: key, from: Pieces(bytes: content, size: 100_003))
            #expect(info == BlobInfo(bytes: Int64(size), sha256: Hex.encode(SHA256.hash(data: content))))
            var read: [UInt8] = []
            try await store.read(key: key) { read += $0 }
            #expect(read == content)
            #expect(try await store.exists(key: key))
            let head = try await store.client.headObject(key: "control-plane/" + key)
            #expect(head.serverSideEncryption == "AES256")
            #expect(head.bytes == Int64(size))
            try await store.delete(key: key)
            #expect(try await store.exists(key: key) == false)
        }
        await #expect(throws: BlobError(.notFound, "blob tenant/run/missing does not exist")) {
            try await store.read(key: "tenant/run/missing") { _ in }
        }
        await #expect(throws: BlobError.self) { try await store.exists(key: "../escape") }
        let uploads = try moto.boto3(
            "print(len(client('s3').list_multipart_uploads(Bucket='\(Self.bucket)').get('Uploads', [])))")
        #expect(uploads.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("s3:// locations are parsed into bucket and prefix")
    func locations() throws {
        #expect(try S3BlobStore.parseLocation("s3://bucket") == ("bucket", ""))
        #expect(try S3BlobStore.parseLocation("s3://bucket/a/b/") == ("bucket", "a/b/"))
        #expect(throws: BlobError.self) { try S3BlobStore.parseLocation("https://bucket/a") }
        #expect(throws: BlobError.self) { try S3BlobStore.parseLocation("s3:///a") }
    }

    @Test("direct ingestion with blobs in S3: grants are SigV4 URLs into the bucket and the run is published")
    func directIngestionEndToEnd() async throws {
        let moto = try TestMoto()
        let store = try Self.store(moto)
        try await DeliveryHarness.serve(blobs: { _ in store }) { harness, client in
            let (assignment, files) = try await client.startOrdersRun(harness)
            let grants = try await client.grants(harness, assignment, for: files)
            for (file, grant) in zip(files, grants) {
                let url = try #require(URLComponents(string: grant.url))
                #expect(grant.url.hasPrefix("\(moto.url)/\(Self.bucket)/control-plane/"))
                #expect(url.path.hasSuffix("/\(assignment.runId)/\(file.path)"))
                let query = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
                #expect(query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256")
                #expect(
                    query["X-Amz-SignedHeaders"]
                        == "content-length;host;x-amz-checksum-sha256;x-amz-server-side-encryption")
                #expect(query["X-Amz-Credential"]?.hasPrefix("server/") == true)
                #expect(!grant.url.contains("server-secret"))
                #expect(grant.headers["Content-Length"] == String(file.bytes.count))
                #expect(
                    grant.headers["x-amz-checksum-sha256"]
                        == Data(SHA256.hash(data: file.bytes)).base64EncodedString())
                #expect(grant.headers["x-amz-server-side-encryption"] == "AES256")

                // The agent's PUT: a plain HTTP client, the grant's headers, no credentials.
                var request = HTTPClientRequest(url: grant.url)
                request.method = .PUT
                for (name, value) in grant.headers where name != "Content-Length" {
                    request.headers.add(name: name, value: value)
                }
                request.body = .bytes(ByteBuffer(bytes: file.bytes))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                #expect(response.status == .ok)
            }
            let completed = try await client.complete(harness, assignment)
            #expect(completed.status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .succeeded, "\(run.error ?? "")")
            let found = try await client.search(harness, "q=orders")
            #expect(found.map(\.qualifiedName) == ["wh/d/s/orders"])
            for file in files {
                let key = "\(harness.tenantA.tenant.id)/\(assignment.runId)/\(file.path)"
                #expect(try await harness.blobs.exists(key: key))
                let head = try await store.client.headObject(key: "control-plane/" + key)
                #expect(head.serverSideEncryption == "AES256")
            }
        }
    }

    @Test("a file changed after its grant is caught by ingestion and nothing is published")
    func tamperedUploadFailsIngestion() async throws {
        let moto = try TestMoto()
        let store = try Self.store(moto)
        try await DeliveryHarness.serve(blobs: { _ in store }) { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let assignment = try await client.startRun(harness, connectionId: connection.id)
            typealias R = CatalogRecords
            let folder = try harness.folder("delivery")
            try DeliveryWriter.write(
                [R.database("wh", "d"), R.schema("wh", "d", "s"), R.table("wh", "d", "s", "orders")],
                connection: "wh", completeness: [R.completeness("wh", "d", nil)], into: folder)
            let files = try DeliveredFile.all(in: folder)
            let grants = try await client.grants(harness, assignment, for: files)
            for (file, grant) in zip(files, grants) {
                var body = file.bytes
                // moto does not check x-amz-checksum-sha256 (S3 does): the ingestion's own check must hold.
                if file.path != MetadataFormat.manifestFileName { body[body.count / 2] ^= 0x01 }
                var request = HTTPClientRequest(url: grant.url)
                request.method = .PUT
                for (name, value) in grant.headers where name != "Content-Length" {
                    request.headers.add(name: name, value: value)
                }
                request.body = .bytes(ByteBuffer(bytes: body))
                _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            }
            #expect(try await client.complete(harness, assignment).status == .ok)
            let run = try await harness.finishedRun(assignment.runId)
            #expect(run.status == .failed)
            #expect(run.error?.contains("records-") == true)
            #expect(try await client.search(harness, "q=orders").isEmpty)
        }
    }
}
