import AWSSigV4
import Foundation
import OutpostTesting
import Testing

/// AWS's own SigV4 test suite (../shared/vectors/aws-sigv4) and botocore's pre-signed URLs.
@Suite("SigV4 signer")
struct SigV4SignerTests {
    static let vectorRoot = BuildProducts.repositoryRoot + "/../shared/vectors/aws-sigv4"
    static let credentials = AWSCredentials(
        accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    /// Every test case directory (one holding a `.req`), by name.
    static var vectors: [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: vectorRoot) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".req") }
            .map { String($0.dropLast(4)) }.sorted()
    }

    /// Parses a `.req` file into a request to sign.
    static func request(_ text: String) throws -> (SigV4Request, String) {
        var lines = text.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = String(requestLine.dropFirst(method.count + 1))
        if target.hasSuffix(" HTTP/1.1") { target.removeLast(" HTTP/1.1".count) }
        var headers: [(name: String, value: String)] = []
        while let line = lines.first, !line.isEmpty {
            lines.removeFirst()
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let body = lines.isEmpty ? "" : lines.dropFirst().joined(separator: "\n")
        let path = String(target.prefix { $0 != "?" })
        var query: [(name: String, value: String)] = []
        if let mark = target.firstIndex(of: "?") {
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
                let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
                query.append((name, value))
            }
        }
        let date = try #require(headers.first { $0.name.lowercased() == "x-amz-date" }?.value)
        let request = SigV4Request(
            method: method, path: path, query: query, headers: headers,
            payloadHash: SigV4Signer.sha256Hex(Array(body.utf8)))
        return (request, date)
    }

    @Test("the canonical request, string to sign and Authorization match AWS's test suite", arguments: vectors)
    func vector(_ name: String) throws {
        let base = Self.vectorRoot + "/" + name
        func read(_ suffix: String) throws -> String { try String(contentsOfFile: base + suffix, encoding: .utf8) }
        var (request, dateText) = try Self.request(try read(".req"))
        if name.hasSuffix("post-sts-header-after") {
            // This case adds the session token after signing: it is not part of the signature.
            request.headers.removeAll { $0.name.lowercased() == "x-amz-security-token" }
        }
        if name.hasSuffix("get-vanilla-with-session-token") {
            // The signer adds the session token of temporary credentials as a signed header.
            request.headers.append(("X-Amz-Security-Token", Self.sessionToken))
        }
        let date = try #require(AWSTimestamp(basic: dateText))
        let signer = SigV4Signer(region: "us-east-1", service: "service")
        let canonical = signer.canonicalRequest(request)
        #expect(canonical == (try read(".creq")))
        let stringToSign = signer.stringToSign(canonicalRequest: canonical, date: date)
        #expect(stringToSign == (try read(".sts")))
        #expect(signer.authorization(request, credentials: Self.credentials, date: date) == (try read(".authz")))
    }

    static let sessionToken = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

    @Test("sign() adds the date, the session token and an Authorization that matches the suite")
    func signAddsHeaders() throws {
        let base = Self.vectorRoot + "/get-vanilla-with-session-token/get-vanilla-with-session-token"
        var (request, dateText) = try Self.request(try String(contentsOfFile: base + ".req", encoding: .utf8))
        request.headers.removeAll { $0.name.lowercased() == "x-amz-date" }
        var credentials = Self.credentials
        credentials.sessionToken = Self.sessionToken
        let headers = SigV4Signer(region: "us-east-1", service: "service").sign(
            request, credentials: credentials, date: try #require(AWSTimestamp(basic: dateText)))
        #expect(headers.first { $0.name == "X-Amz-Date" }?.value == dateText)
        #expect(headers.first { $0.name == "X-Amz-Security-Token" }?.value == Self.sessionToken)
        #expect(
            headers.first { $0.name == "Authorization" }?.value
                == (try String(contentsOfFile: base + ".authz", encoding: .utf8)))
        #expect(!"\(credentials)".contains(credentials.secretAccessKey))
    }

    @Test("the suite is present and complete")
    func suitePresent() {
        #expect(Self.vectors.count >= 30, "expected AWS's SigV4 suite at \(Self.vectorRoot)")
    }

    @Test("timestamps convert from epoch seconds")
    func timestamps() {
        #expect(AWSTimestamp(secondsSince1970: 1_440_938_160).basic == "20150830T123600Z")
        #expect(AWSTimestamp(secondsSince1970: 0).basic == "19700101T000000Z")
        #expect(AWSTimestamp(secondsSince1970: 1_709_251_199).basic == "20240229T235959Z")
    }

    @Test(
        "pre-signed S3 URLs are identical to botocore's for a fixed time and key",
        arguments: [
            ("PUT", "bucket", "relay/warehouse/run_1/records-00001.jsonl.gz"),
            ("GET", "my-bucket", "a key/with spaces+plus/ünï.json"),
        ])
    func presignedMatchesBotocore(_ method: String, _ bucket: String, _ key: String) throws {
        let script = """
            import sys, datetime
            from unittest import mock
            import botocore.session
            from botocore.config import Config
            method, bucket, key, endpoint = sys.argv[1:5]
            session = botocore.session.get_session()
            client = session.create_client(
                's3', region_name='us-east-1', endpoint_url=endpoint, aws_access_key_id='AKIDEXAMPLE',
                aws_secret_access_key='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
                config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
            fixed = datetime.datetime(2015, 8, 30, 12, 36, 0)
            with mock.patch('botocore.auth.get_current_datetime', return_value=fixed):
                op = 'put_object' if method == 'PUT' else 'get_object'
                print(client.generate_presigned_url(op, Params={'Bucket': bucket, 'Key': key}, ExpiresIn=600))
            """
        let endpoint = "http://127.0.0.1:9000"
        let result = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script, method, bucket, key, endpoint])
        #expect(result.status == 0, "botocore failed: \(result.standardError)")
        let expected = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let signer = SigV4Signer(region: "us-east-1", service: "s3")
        let url = signer.presignedURL(
            method: method, endpoint: endpoint, path: "/\(bucket)/\(key)", credentials: Self.credentials,
            date: AWSTimestamp(secondsSince1970: 1_440_938_160), expires: 600)
        #expect(url == expected)
    }
}
