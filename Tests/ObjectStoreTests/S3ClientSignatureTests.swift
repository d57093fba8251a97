import AWSSigV4
import Foundation
import ObjectStore
import OutpostTesting
import Testing

/// Header-signed requests against a moto that checks SigV4 signatures against an IAM user created inside it.
@Suite("S3 client against a signature-checking moto", .serialized)
struct S3ClientSignatureTests {
    @Test("correctly signed requests are accepted and a wrong secret is refused with SignatureDoesNotMatch")
    func signaturesEnforced() async throws {
        // Four unauthenticated actions: create the user, its key, its policy, and the bucket.
        let moto = try TestMoto(enforcingAuthAfter: 4)
        let keys = try moto.boto3(
            """
            iam = client('iam')
            iam.create_user(UserName='relay')
            key = iam.create_access_key(UserName='relay')['AccessKey']
            iam.put_user_policy(UserName='relay', PolicyName='all', PolicyDocument=json.dumps(
                {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
            client('s3').create_bucket(Bucket='signed')
            print(key['AccessKeyId'], key['SecretAccessKey'])
            """
        ).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let accessKey = try #require(keys.first)
        let secretKey = try #require(keys.last)
        func client(secret: String) throws -> S3Client {
            try S3Client(
                bucket: "signed",
                configuration: .init(
                    endpoint: moto.url, region: "us-east-1",
                    credentials: .fixed(AWSCredentials(accessKeyId: accessKey, secretAccessKey: secret))))
        }
        let good = try client(secret: secretKey)
        // moto's own signature check mishandles `+`, `(` and non-ASCII in keys and `/` in query values (boto3's
        // requests fail there too); the default-mode suite proves those against boto3's view of the bucket.
        let key = "signed/with space/report-1.json"
        try await good.putObject(key: key, body: .bytes(Array("{}".utf8)), serverSideEncryption: .aes256)
        #expect(try await good.headObject(key: key).bytes == 2)
        var listed: [String] = []
        for try await object in good.listObjects(prefix: "signed") { listed.append(object.key) }
        #expect(listed == [key])
        let uploadId = try await good.createMultipartUpload(key: "signed/parts.bin")
        try await good.abortMultipartUpload(key: "signed/parts.bin", uploadId: uploadId)
        try await good.deleteObject(key: key)

        let bad = try client(secret: "wrong-secret")
        do {
            try await bad.putObject(key: "signed/refused.json", body: .bytes([1]))
            Issue.record("a request signed with a wrong secret was accepted")
        } catch let error as ObjectStoreError {
            #expect(error.code == .signatureDoesNotMatch)
            #expect(error.status == 403)
            #expect(!error.isRetryable)
            #expect(error.description.contains("SignatureDoesNotMatch"))
            #expect(error.description.contains("s3://signed/signed/refused.json"))
            #expect(!error.description.contains("wrong-secret"))
            #expect(!error.description.contains(secretKey))
        }
        let unknown = try S3Client(
            bucket: "signed",
            configuration: .init(
                endpoint: moto.url, region: "us-east-1",
                credentials: .fixed(AWSCredentials(accessKeyId: "AKIAUNKNOWN0000000000", secretAccessKey: "x"))))
        do {
            _ = try await unknown.headObject(key: "signed/x")
            Issue.record("an unknown access key was accepted")
        } catch let error as ObjectStoreError {
            #expect(error.status == 403)
        }
    }
}
