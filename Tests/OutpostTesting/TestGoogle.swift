import Foundation

/// The project's fake Google endpoints (`Tests/tools/fake_gcp`: token endpoint, metadata server, Secret Manager —
/// a FAKE written from Google's API descriptions and proven with Google's own SDKs by its self-test), one per test,
/// with two generated service accounts: `reader` (may read every secret given here) and `outsider` (may read none).
/// With buckets, Cloud Storage too: fake-gcs-server (a real emulator) behind the fake's verifying proxy.
///
/// `Tests/tools/test.sh` exports `OUTPOST_TEST_FAKE_GCP_PYTHON` (the fake's venv) and
/// `OUTPOST_TEST_FAKE_GCS_SERVER` (the emulator's binary). A test that needs them fails when they cannot start,
/// never skips.
public final class TestGoogle: @unchecked Sendable {
    // Set once in init and only read afterwards.
    private let process: Process
    private let input: Pipe
    public let directory: TemporaryDirectory
    /// The fake's URLs: `base`, `token`, `metadataHost`, `secretManager`, …
    public let endpoints: [String: String]

    public static let project = "outpost-test"
    public static let reader = "reader@outpost-test.iam.gserviceaccount.com"
    public static let outsider = "outsider@outpost-test.iam.gserviceaccount.com"

    public var readerKeyFile: String { directory.path + "/reader.json" }
    /// An HMAC key of `reader`, registered with the fake's storage proxy: its access id and secret.
    public static let hmacAccessId = "GOOG1EOUTPOSTTESTREADERHMACKEY0000000000000000000000000000"
    public let hmacSecret = Data((0..<30).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    public var outsiderKeyFile: String { directory.path + "/outsider.json" }
    public var secretManager: String { endpoints["secretManager"] ?? "" }
    public var metadataHost: String { endpoints["metadataHost"] ?? "" }
    /// The storage proxy's URL (with buckets only).
    public var storage: String { endpoints["storage"] ?? "" }

    /// Starts a fake holding `secrets` (name → the text of its first version), each readable by `reader` only; the
    /// metadata server's default account is `reader`. `buckets` start Cloud Storage with these buckets.
    public init(secrets: [String: String] = [:], buckets: [String] = []) throws {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["OUTPOST_TEST_FAKE_GCP_PYTHON"], !python.isEmpty else {
            throw TestPostgres.Unavailable(
                description: "OUTPOST_TEST_FAKE_GCP_PYTHON is not set: run Tests/tools/test.sh (it sets up the fake)")
        }
        directory = try TemporaryDirectory()
        let state: [String: Any] = [
            "projects": [["id": Self.project, "number": "123456789012"]],
            "metadata": [
                "serviceAccount": Self.reader, "projectId": Self.project, "numericProjectId": "123456789012",
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            ],
            "secrets": secrets.sorted { $0.key < $1.key }.map { name, text in
                ["project": Self.project, "name": name, "accessors": [Self.reader], "versions": [["data": text]]]
            },
        ]
        try JSONSerialization.data(withJSONObject: state).write(
            to: URL(fileURLWithPath: directory.path + "/state.json"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            BuildProducts.repositoryRoot + "/Tests/tools/fake_gcp/server.py", "--port", "0", "--exit-on-stdin-eof",
            "--generate-service-account", "\(Self.reader)=\(directory.path)/reader.json",
            "--generate-service-account", "\(Self.outsider)=\(directory.path)/outsider.json",
            "--state-file", directory.path + "/state.json", "--endpoints-file", directory.path + "/endpoints.json",
            "--hmac-key", "\(Self.hmacAccessId):\(hmacSecret):\(Self.reader)",
        ]
        if !buckets.isEmpty {
            guard let server = environment["OUTPOST_TEST_FAKE_GCS_SERVER"], !server.isEmpty else {
                throw TestPostgres.Unavailable(
                    description:
                        "OUTPOST_TEST_FAKE_GCS_SERVER is not set: run Tests/tools/test.sh (it finds fake-gcs-server)")
            }
            process.arguments! +=
                ["--storage-port", "0", "--gcs-server", server] + buckets.flatMap { ["--bucket", $0] }
        }
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null") ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TestPostgres.Unavailable(description: "cannot start the fake Google endpoints: \(error)")
        }
        do {
            _ = try FakeServerReadiness.port(from: output.fileHandleForReading, name: "the fake Google endpoints")
            let data = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/endpoints.json"))
            endpoints = (try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]).compactMapValues {
                $0 as? String
            }
        } catch {
            process.terminate()
            throw error
        }
    }

    deinit { stop() }

    public func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    /// POSTs `json` to a control endpoint (`/_fake/secrets/versions`, …) and returns the answer.
    @discardableResult
    public func control(_ path: String, _ json: [String: Any]) throws -> [String: Any] {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let result = try ChildProcess.run(
            "/usr/bin/env",
            [
                "curl", "-sS", "--fail", "--max-time", "30", "-H", "Content-Type: application/json", "-d", body,
                (endpoints["base"] ?? "") + path,
            ])
        guard result.status == 0 else {
            throw TestPostgres.Unavailable(description: "the fake's \(path) failed: \(result.standardError)")
        }
        return (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any] ?? [:]
    }

    public static let poolAudience =
        "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/outpost-pool/providers/k8s"

    /// Sets up workload identity federation as on GKE or another cloud: an OIDC issuer of the fake's pool (a key
    /// generated here), a subject token it signed for `subject` in a file, `reader` impersonable by every subject of
    /// the pool, and an `external_account` credential configuration that federates the token file through the
    /// fake STS and impersonates `reader`. Returns the configuration's path and the token file's path.
    public func workloadIdentity(
        subject: String = "system:serviceaccount:outpost:agent"
    ) throws -> (
        configuration: String, tokenFile: String
    ) {
        let issuer = "https://oidc.outpost.test"
        let script = """
            import base64, json, sys, time
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
            now = int(time.time())
            head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
            body = b64(json.dumps({"iss": sys.argv[1], "aud": "https:" + sys.argv[2], "sub": sys.argv[3],
                                   "iat": now, "exp": now + 3600}).encode())
            sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            print(json.dumps({"pem": pem, "token": f"{head}.{body}.{b64(sig)}"}))
            """
        let python = ProcessInfo.processInfo.environment["OUTPOST_TEST_FAKE_GCP_PYTHON"] ?? "python3"
        let result = try ChildProcess.run(python, ["-c", script, issuer, Self.poolAudience, subject])
        guard result.status == 0,
            let minted = (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)))
                as? [String: String],
            let pem = minted["pem"], let token = minted["token"]
        else {
            throw TestPostgres.Unavailable(description: "cannot mint a subject token: \(result.standardError)")
        }
        try control("/_fake/providers", ["audience": Self.poolAudience, "issuer": issuer, "issuerPublicKeyPem": pem])
        let pool =
            "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/outpost-pool/*"
        try control("/_fake/service-accounts/token-creators", ["email": Self.reader, "tokenCreators": [pool]])
        let tokenFile = directory.path + "/subject-token"
        try Data(token.utf8).write(to: URL(fileURLWithPath: tokenFile))
        let configuration: [String: Any] = [
            "type": "external_account", "audience": Self.poolAudience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": endpoints["sts"] ?? "",
            "service_account_impersonation_url":
                (endpoints["iamCredentials"] ?? "")
                + "/v1/projects/-/serviceAccounts/\(Self.reader):generateAccessToken",
            "credential_source": ["file": tokenFile, "format": ["type": "text"]],
        ]
        let path = directory.path + "/workload-identity.json"
        try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: path))
        return (path, tokenFile)
    }

    /// Requests the fake received, by target (`GET /_fake/stats`).
    public func requests(_ target: String) throws -> Int {
        let result = try ChildProcess.run(
            "/usr/bin/env", ["curl", "-sS", "--fail", "--max-time", "30", (endpoints["base"] ?? "") + "/_fake/stats"])
        let stats = (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any]
        return (stats?["requests"] as? [String: Any])?[target] as? Int ?? 0
    }
}
