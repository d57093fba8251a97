import AWSSigV4
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import ObjectStore
import OutpostTesting
import Testing

/// The S3 client against a real moto server (default mode: signatures not checked, pre-signed URLs work).
@Suite("S3 client against moto", .serialized)
struct S3ClientMotoTests {
    static let weirdKeys = [
        "plain.json",
        "dir/file with space.txt",
        "plus+sign/a+b",
        "ünïcødé/ключ/日本語.jsonl.gz",
        "reserved/q?x=1&y=#z;@,$!'()*",
        "literal%20percent",
        "tilde~under_score.dash-",
    ]

    static func client(_ moto: TestMoto, bucket: String = "relay") throws -> S3Client {
        try moto.boto3("client('s3').create_bucket(Bucket='\(bucket)')")
        return try S3Client(
            bucket: bucket,
            configuration: .init(
                endpoint: moto.url, region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "testing", secretAccessKey: "testing"))))
    }

    static func randomFile(_ directory: TemporaryDirectory, name: String, bytes: Int) throws -> (String, [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let content = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = directory.path + "/" + name
        try Data(content).write(to: URL(fileURLWithPath: path))
        return (path, content)
    }

    static func download(_ client: S3Client, _ key: String) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await client.getObject(key: key) { bytes += $0.readableBytesView }
        return bytes
    }

    @Test("put, head, get, list and delete round-trip keys with spaces, plus, unicode and reserved characters")
    func roundTrip() async throws {
        let moto = try TestMoto()
        let client = try Self.client(moto)
        for (index, key) in Self.weirdKeys.enumerated() {
            let body = Array("object \(index): \(key)".utf8)
            let put = try await client.putObject(key: key, body: .bytes(body), contentType: "application/json")
            #expect(put.bytes == Int64(body.count))
            #expect(put.sha256 == SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined())
            let head = try await client.headObject(key: key)
            #expect(head.bytes == Int64(body.count))
            #expect(head.etag == put.etag)
            #expect(try await Self.download(client, key) == body)
        }
        // boto3 sees exactly the same keys, so the encoding on the wire is S3's, not just self-consistent.
        let listedByBoto = try moto.boto3(
            "print(json.dumps(sorted(o['Key'] for o in client('s3').list_objects_v2(Bucket='relay')['Contents'])))")
        let botoKeys = try JSONDecoder().decode([String].self, from: Data(listedByBoto.utf8))
        #expect(botoKeys == Self.weirdKeys.sorted())

        var listed: [String] = []
        for try await object in client.listObjects(pageSize: 2) { listed.append(object.key) }
        #expect(listed.sorted() == Self.weirdKeys.sorted())

        // A byte range, and the in-memory read that refuses objects above its limit.
        let body = Array("object 1: dir/file with space.txt".utf8)
        var ranged: [UInt8] = []
        let rangeInfo = try await client.getObject(key: Self.weirdKeys[1], range: 2...7) {
            ranged += $0.readableBytesView
        }
        #expect(ranged == Array(body[2...7]))
        #expect(rangeInfo.bytes == 6)
        #expect(try await client.getObjectBytes(key: Self.weirdKeys[1], limit: 1024) == body)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await client.getObjectBytes(key: Self.weirdKeys[1], limit: 4)
        }

        for key in Self.weirdKeys { try await client.deleteObject(key: key) }
        var remaining = 0
        for try await _ in client.listObjects() { remaining += 1 }
        #expect(remaining == 0)
    }

    @Test("listing follows continuation tokens page by page under a prefix")
    func pagedListing() async throws {
        let moto = try TestMoto()
        let client = try Self.client(moto)
        let keys = (0..<7).map { "runs/r1/records-\(String(format: "%05d", $0)).jsonl.gz" }
        for key in keys + ["runs/r2/other.json", "elsewhere.json"] {
            try await client.putObject(key: key, body: .bytes(Array(key.utf8)))
        }
        let first = try await client.listObjectsPage(prefix: "runs/r1/", maxKeys: 3)
        #expect(first.objects.map(\.key) == Array(keys.prefix(3)))
        let token = try #require(first.nextContinuationToken)
        let second = try await client.listObjectsPage(prefix: "runs/r1/", continuationToken: token, maxKeys: 3)
        #expect(second.objects.map(\.key) == Array(keys[3..<6]))
        var all: [S3ObjectSummary] = []
        for try await object in client.listObjects(prefix: "runs/r1/", pageSize: 3) { all.append(object) }
        #expect(all.map(\.key) == keys)
        #expect(all.allSatisfy { $0.bytes == Int64($0.key.utf8.count) })
    }

    @Test("server-side encryption is asked for and echoed on PUT, HEAD and GET")
    func serverSideEncryption() async throws {
        let moto = try TestMoto()
        let client = try Self.client(moto)
        let put = try await client.putObject(
            key: "sse/aes.json", body: .bytes([1, 2, 3]), serverSideEncryption: .aes256)
        #expect(put.serverSideEncryption == "AES256")
        #expect(try await client.headObject(key: "sse/aes.json").serverSideEncryption == "AES256")
        let got = try await client.getObject(key: "sse/aes.json") { _ in }
        #expect(got.serverSideEncryption == "AES256")

        let kmsKey = try moto.boto3("print(client('kms').create_key()['KeyMetadata']['KeyId'])")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try await client.putObject(
            key: "sse/kms.json", body: .bytes([4, 5, 6]), serverSideEncryption: .kms(keyId: kmsKey))
        let head = try await client.headObject(key: "sse/kms.json")
        #expect(head.serverSideEncryption == "aws:kms")
        #expect(head.kmsKeyId?.contains(kmsKey) == true)
    }

    @Test("a file larger than several parts goes up in parts and comes back byte for byte")
    func multipartUpload() async throws {
        let partSize = 256 * 1024
        let moto = try TestMoto(settings: ["S3_UPLOAD_PART_MIN_SIZE": String(partSize)])
        let client = try Self.client(moto)
        let directory = try TemporaryDirectory()
        let (path, content) = try Self.randomFile(directory, name: "big.bin", bytes: 4 * partSize + 12_345)
        let policy = try S3UploadPolicy(
            partSize: partSize, multipartThreshold: Int64(partSize), minimumPartSize: partSize)
        let result = try await client.upload(
            file: path, key: "runs/big file.bin", serverSideEncryption: .aes256, policy: policy)
        #expect(result.parts == 5)
        #expect(result.bytes == Int64(content.count))
        #expect(result.sha256 == SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined())
        #expect(result.etag?.hasSuffix("-5") == true)
        let head = try await client.headObject(key: "runs/big file.bin")
        #expect(head.bytes == Int64(content.count))
        #expect(head.serverSideEncryption == "AES256")
        #expect(try await Self.download(client, "runs/big file.bin") == content)

        // Below the threshold the same call is a single PUT.
        let (small, smallContent) = try Self.randomFile(directory, name: "small.bin", bytes: 1000)
        let single = try await client.upload(file: small, key: "runs/small.bin", policy: policy)
        #expect(single.parts == 0)
        #expect(try await Self.download(client, "runs/small.bin") == smallContent)
    }

    @Test("a failed multipart upload is aborted: no parts linger and no object appears")
    func multipartAbort() async throws {
        // moto keeps S3's 5 MiB minimum here, so completing 256 KiB parts fails with EntityTooSmall.
        let moto = try TestMoto()
        let client = try Self.client(moto)
        let directory = try TemporaryDirectory()
        let partSize = 256 * 1024
        let (path, _) = try Self.randomFile(directory, name: "big.bin", bytes: 3 * partSize)
        let policy = try S3UploadPolicy(partSize: partSize, multipartThreshold: 1, minimumPartSize: partSize)
        do {
            try await client.upload(file: path, key: "runs/too-small.bin", policy: policy)
            Issue.record("an upload with parts below moto's minimum succeeded")
        } catch let error as ObjectStoreError {
            #expect(error.code == "EntityTooSmall")
            #expect(error.status == 400)
            #expect(!error.isRetryable)
        }
        let uploads = try moto.boto3(
            "print(len(client('s3').list_multipart_uploads(Bucket='relay').get('Uploads', [])))")
        #expect(uploads.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        await #expect(throws: ObjectStoreError.self) { try await client.headObject(key: "runs/too-small.bin") }
    }

    @Test("a missing key is a clear NoSuchKey error on GET and HEAD, and a missing file a clear file error")
    func noSuchKey() async throws {
        let moto = try TestMoto()
        let client = try Self.client(moto)
        do {
            try await client.getObject(key: "missing/object.json") { _ in }
            Issue.record("a missing object was read")
        } catch let error as ObjectStoreError {
            #expect(error.code == .noSuchKey)
            #expect(error.status == 404)
            #expect(error.isNotFound)
            #expect(error.description.contains("s3://relay/missing/object.json"))
            #expect(error.description.contains("NoSuchKey"))
        }
        do {
            _ = try await client.headObject(key: "missing/object.json")
            Issue.record("a missing object was found")
        } catch let error as ObjectStoreError {
            #expect(error.code == .noSuchKey)
        }
        do {
            try await client.upload(file: "/nonexistent/outpost/file", key: "x")
            Issue.record("a missing file was uploaded")
        } catch let error as ObjectStoreError {
            #expect(error.code == .file)
            #expect(error.description.contains("/nonexistent/outpost/file"))
        }
        let other = try S3Client(bucket: "no-such-bucket", configuration: client.configuration)
        await #expect(throws: ObjectStoreError.self) { try await other.putObject(key: "k", body: .bytes([1])) }
    }

    @Test("a refused connection is a retryable network error")
    func networkError() async throws {
        let port = try FreePort.find()
        let client = try S3Client(
            bucket: "relay",
            configuration: .init(
                endpoint: "http://127.0.0.1:\(port)", region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "a", secretAccessKey: "b")),
                requestTimeout: .seconds(5)))
        do {
            _ = try await client.headObject(key: "k")
            Issue.record("a request to a closed port succeeded")
        } catch let error as ObjectStoreError {
            #expect(error.code == .network)
            #expect(error.isRetryable)
        }
    }

    @Test("pre-signed GET and PUT URLs work from a plain HTTP client without credentials")
    func presignedURLs() async throws {
        let moto = try TestMoto()
        let client = try Self.client(moto)
        let body = Array("pre-signed ✓".utf8)
        try await client.putObject(key: "shared/report one.json", body: .bytes(body))
        let getURL = try await client.presignedURL(method: "GET", key: "shared/report one.json", expiresIn: 300)
        #expect(getURL.hasPrefix(moto.url + "/relay/shared/report%20one.json?"))
        #expect(getURL.contains("X-Amz-Expires=300"))
        #expect(getURL.contains("X-Amz-Signature="))
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: getURL), timeout: .seconds(10))
        #expect(response.status == .ok)
        #expect(Array(buffer: try await response.body.collect(upTo: 1024)) == body)

        let putURL = try await client.presignedURL(
            method: "PUT", key: "shared/uploaded.bin", expiresIn: 60,
            headers: ServerSideEncryption.aes256.headers)
        var put = HTTPClientRequest(url: putURL)
        put.method = .PUT
        put.headers.add(name: "x-amz-server-side-encryption", value: "AES256")
        put.body = .bytes(ByteBuffer(bytes: [9, 8, 7]))
        let putResponse = try await HTTPClient.shared.execute(put, timeout: .seconds(10))
        #expect(putResponse.status == .ok)
        #expect(try await Self.download(client, "shared/uploaded.bin") == [9, 8, 7])
        #expect(try await client.headObject(key: "shared/uploaded.bin").serverSideEncryption == "AES256")
    }

    @Test("credentials from a web-identity token are exchanged with STS and sign S3 requests")
    func webIdentity() async throws {
        let moto = try TestMoto()
        try moto.boto3("client('s3').create_bucket(Bucket='relay')")
        let directory = try TemporaryDirectory()
        let tokenFile = directory.path + "/token"
        try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdXRwb3N0In0.c2lnbmF0dXJl".write(
            toFile: tokenFile, atomically: true, encoding: .utf8)
        let environment = AWSEnvironment([
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.url, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/outpost",
        ])
        let source = try #require(environment.credentialSource(region: "us-east-1"))
        let client = try S3Client(
            bucket: "relay", configuration: .init(endpoint: moto.url, region: "us-east-1", credentials: source))
        try await client.putObject(key: "wi.json", body: .bytes([1]))
        #expect(try await client.headObject(key: "wi.json").bytes == 1)
    }
}
