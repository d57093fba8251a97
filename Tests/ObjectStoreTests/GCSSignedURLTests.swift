import AWSSigV4
import Foundation
import GoogleCloud
import ObjectStore
import OutpostTesting
import Testing

/// Our GCS V4 signed URLs against google-cloud-storage's own signer (`generate_signed_url(version="v4")`, RSA),
/// run in the same test through `Tests/tools/fake_gcp/reference_signatures.py`: byte for byte, for a fixed key and
/// time. The HMAC vectors come from the fake's own signing code (the SDK has no HMAC signer), which the fake's
/// self-test checks against botocore's SigV4 key chain.
@Suite("GCS V4 signed URLs, byte for byte with Google's SDK")
struct GCSSignedURLTests {
    struct Vectors: Decodable {
        struct HMAC: Decodable {
            var accessId: String
            var secret: String
        }
        struct Vector: Decodable {
            var name: String
            var algorithm: String
            var method: String
            var object: String
            var expires: Int
            var headers: [String: String]
            var query: [String: String]
            var url: String
        }
        var timestamp: String
        var endpoint: String
        var bucket: String
        var keyFile: [String: String]
        var hmac: HMAC
        var vectors: [Vector]
    }

    static func vectors() throws -> Vectors {
        try referenceVectors(
            Vectors.self, script: "Tests/tools/fake_gcp/reference_signatures.py", python: "OUTPOST_TEST_FAKE_GCP_PYTHON"
        )
    }

    @Test func everyVectorIsReproducedByteForByte() async throws {
        let reference = try Self.vectors()
        let date = try #require(AWSTimestamp(basic: reference.timestamp))
        let account = try GoogleServiceAccountKey(json: Array(try JSONEncoder().encode(reference.keyFile)))
        let hmac = AWSCredentials(accessKeyId: reference.hmac.accessId, secretAccessKey: reference.hmac.secret)
        #expect(reference.vectors.contains { $0.algorithm == "GOOG4-RSA-SHA256" })
        #expect(reference.vectors.contains { $0.algorithm == "GOOG4-HMAC-SHA256" })
        for vector in reference.vectors {
            let credential: GCSSignedURLs.Credential =
                vector.algorithm == "GOOG4-RSA-SHA256" ? .serviceAccount(account) : .hmac(hmac)
            let signer = GCSSignedURLs(credential: credential, endpoint: reference.endpoint)
            let url = try await signer.url(
                method: vector.method, bucket: reference.bucket, object: vector.object,
                headers: vector.headers.map { ($0.key, $0.value) }, query: vector.query.map { ($0.key, $0.value) },
                date: date, expires: vector.expires)
            #expect(url == vector.url, "\(vector.name) (\(vector.algorithm))")
            // A signer that only hands the string to sign to someone else (IAM Credentials' signBlob) makes the
            // very same URL.
            guard vector.algorithm == "GOOG4-RSA-SHA256" else { continue }
            let remote = GCSSignedURLs(
                credential: .remote(email: account.clientEmail) { try account.sign($0) }, endpoint: reference.endpoint)
            let remoteURL = try await remote.url(
                method: vector.method, bucket: reference.bucket, object: vector.object,
                headers: vector.headers.map { ($0.key, $0.value) }, query: vector.query.map { ($0.key, $0.value) },
                date: date, expires: vector.expires)
            #expect(remoteURL == vector.url, "\(vector.name) signed remotely")
        }
    }

    @Test func aLifetimeBeyondSevenDaysOrAForeignKeyFileIsRefusedWithoutEchoingTheKey() async throws {
        let reference = try Self.vectors()
        let account = try GoogleServiceAccountKey(json: Array(try JSONEncoder().encode(reference.keyFile)))
        let signer = GCSSignedURLs(credential: .serviceAccount(account))
        let date = AWSTimestamp(secondsSince1970: 1_800_000_000)
        await #expect(throws: ObjectStoreError.self) {
            try await signer.url(method: "PUT", bucket: "b", object: "o", date: date, expires: 604_801)
        }
        var notAnAccount = reference.keyFile
        notAnAccount["type"] = "authorized_user"
        let error = #expect(throws: GoogleCloudError.self) {
            try GoogleServiceAccountKey(json: Array(try JSONEncoder().encode(notAnAccount)))
        }
        #expect(error?.message.contains("authorized_user") == true)
        var broken = reference.keyFile
        broken["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"
        let keyError = #expect(throws: GoogleCloudError.self) {
            try GoogleServiceAccountKey(json: Array(try JSONEncoder().encode(broken)))
        }
        #expect(keyError.map { "\($0)" }?.contains("not-a-key") == false)
        #expect("\(account)".contains("redacted"))
    }
}
