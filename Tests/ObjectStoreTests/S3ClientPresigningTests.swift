import AWSSigV4
import Foundation
import ObjectStore
import OutpostTesting
import Testing

/// Pre-signed URLs from `S3Client`, byte for byte against botocore's `generate_presigned_url` at a fixed time.
@Suite("S3 client pre-signed URLs")
struct S3ClientPresigningTests {
    static let credentials = AWSCredentialSource.fixed(
        AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))

    static func botocore(method: String, style: String, endpoint: String?, key: String, sse: Bool) throws -> String {
        let script = """
            import sys, datetime
            from unittest import mock
            import botocore.session
            from botocore.config import Config
            method, style, endpoint, key, sse = sys.argv[1:6]
            options = dict(
                region_name='eu-west-1', aws_access_key_id='AKIDEXAMPLE',
                aws_secret_access_key='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
                config=Config(signature_version='s3v4', s3={'addressing_style': style}))
            if endpoint:
                options['endpoint_url'] = endpoint
            client = botocore.session.get_session().create_client('s3', **options)
            params = {'Bucket': 'acme-metadata', 'Key': key}
            if sse == 'yes':
                params['ServerSideEncryption'] = 'AES256'
            with mock.patch('botocore.auth.get_current_datetime', return_value=datetime.datetime(2015, 8, 30, 12, 36)):
                operation = 'put_object' if method == 'PUT' else 'get_object'
                print(client.generate_presigned_url(operation, Params=params, ExpiresIn=600))
            """
        let result = try ChildProcess.run(
            "/usr/bin/env", ["python3", "-c", script, method, style, endpoint ?? "", key, sse ? "yes" : "no"])
        guard result.status == 0 else { throw ObjectStoreError(.invalidArgument, "botocore: \(result.standardError)") }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(
        "GET and PUT (with encryption) URLs match botocore in both addressing styles",
        arguments: [S3Configuration.AddressingStyle.virtualHosted, .path],
        [
            ("GET", "outpost/a b+c/ünï.json", false), ("PUT", "outpost/conn/run/records-00001.jsonl.gz", true),
        ])
    func matchesBotocore(style: S3Configuration.AddressingStyle, request: (String, String, Bool)) async throws {
        let (method, key, sse) = request
        let endpoint = style == .path ? "http://127.0.0.1:9000" : nil
        let client = try S3Client(
            bucket: "acme-metadata",
            configuration: .init(
                endpoint: endpoint, region: "eu-west-1", addressingStyle: style, credentials: Self.credentials),
            now: { 1_440_938_160 })
        let url = try await client.presignedURL(
            method: method, key: key, expiresIn: 600, headers: sse ? ServerSideEncryption.aes256.headers : [])
        let expected = try Self.botocore(
            method: method, style: style == .path ? "path" : "virtual", endpoint: endpoint, key: key, sse: sse)
        #expect(url == expected)
    }

    @Test("pre-signing refuses other methods and expiries beyond seven days")
    func refusals() async throws {
        let client = try S3Client(
            bucket: "acme-metadata", configuration: .init(region: "eu-west-1", credentials: Self.credentials))
        await #expect(throws: ObjectStoreError.self) {
            _ = try await client.presignedURL(method: "DELETE", key: "k", expiresIn: 60)
        }
        await #expect(throws: ObjectStoreError.self) {
            _ = try await client.presignedURL(method: "GET", key: "k", expiresIn: 604_801)
        }
        await #expect(throws: ObjectStoreError.self) {
            _ = try await client.presignedURL(method: "GET", key: "", expiresIn: 60)
        }
    }
}
