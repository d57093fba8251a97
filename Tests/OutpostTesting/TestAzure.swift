import Foundation

/// The project's fake Azure server (`Tests/tools/fake_azure`: Entra ID, managed identity, Key Vault and Blob on one
/// HTTPS port — a FAKE written from Azure's documentation and proven with Microsoft's own SDKs by its self-test),
/// one per test, over TLS with a certificate of its own (`caBundle`).
///
/// Identities: the app `outpost-app` with a client secret (`clientSecret`) and a certificate (`certificateFile`, a PEM
/// with the certificate and its key), the app `outpost-wi` trusting a federated token (`federatedTokenFile`, as AKS
/// projects it), and the default managed identity `outpost-mi` (IMDS and the App Service identity endpoint, whose
/// header is `identityHeader`). Every one of them may read the vault unless `readers` says otherwise.
///
/// `Tests/tools/test.sh` exports `OUTPOST_TEST_FAKE_AZURE_PYTHON`. A test that needs the fake fails when it cannot
/// start, never skips.
public final class TestAzure: @unchecked Sendable {
    // Set once in init and only read afterwards.
    private let process: Process
    private let input: Pipe
    public let directory: TemporaryDirectory
    /// `https://127.0.0.1:PORT`: the vault URL and Entra ID's authority.
    public let base: String
    public let tenant: String

    public static let appClientId = "outpost-app"
    public static let workloadClientId = "outpost-wi"
    public static let managedIdentityClientId = "outpost-mi"
    public let clientSecret = "app-secret-" + UUID().uuidString
    public let identityHeader = "identity-header-" + UUID().uuidString
    public static let federatedIssuer = "https://oidc.aks.outpost.test/"
    public static let federatedSubject = "system:serviceaccount:outpost:outpost-agent"

    public var caBundle: String { directory.path + "/tls.pem" }
    public var certificateFile: String { directory.path + "/app-certificate.pem" }
    public var federatedTokenFile: String { directory.path + "/azure-identity-token" }
    public var appServiceEndpoint: String { base + "/msi/token" }
    /// The storage account, when containers were asked for.
    public static let storageAccount = "outpostrelay"
    /// Its key (base64), for Shared Key.
    public let accountKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    /// The account's URL (path-style): `BASE/ACCOUNT`.
    public var blobEndpoint: String { base + "/" + Self.storageAccount }

    /// Starts a fake holding `secrets` (name → the text of its first version).
    ///
    /// - Parameters:
    ///   - readers: who may read the vault (client ids); nil: every identity of the tenant.
    ///   - containers: containers of the storage account `storageAccount`, which every identity may write.
    public init(
        secrets: [String: String] = [:], readers: [String]? = nil, containers: [String] = [],
        encryptionScopes: [String] = []
    ) throws {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["OUTPOST_TEST_FAKE_AZURE_PYTHON"], !python.isEmpty else {
            throw TestPostgres.Unavailable(
                description: "OUTPOST_TEST_FAKE_AZURE_PYTHON is not set: run Tests/tools/test.sh (it sets up the fake)")
        }
        directory = try TemporaryDirectory()
        // A certificate for the app and an OIDC issuer key with a token it signed, as AKS would project it.
        let mint = """
            import base64, datetime, json, sys, time
            from cryptography import x509
            from cryptography.x509.oid import NameOID
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            out = sys.argv[1]
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outpost-app")])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                    .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
            cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
            key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            open(out + "/app-certificate.pem", "w").write(cert_pem + key_pem)
            open(out + "/app-certificate-public.pem", "w").write(cert_pem)
            issuer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            open(out + "/issuer-public.pem", "w").write(issuer.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
            b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
            t = int(time.time())
            head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
            body = b64(json.dumps({"iss": sys.argv[2], "sub": sys.argv[3], "aud": ["api://AzureADTokenExchange"],
                                   "iat": t, "nbf": t, "exp": t + 3600}).encode())
            sig = issuer.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            open(out + "/azure-identity-token", "w").write(f"{head}.{body}.{b64(sig)}")
            """
        let minted = try ChildProcess.run(
            python, ["-c", mint, directory.path, Self.federatedIssuer, Self.federatedSubject])
        guard minted.status == 0 else {
            throw TestPostgres.Unavailable(description: "cannot mint Azure test credentials: \(minted.standardError)")
        }
        let config: [String: Any] = [
            "clients": [
                [
                    "clientId": Self.appClientId, "secret": clientSecret,
                    "certificates": [directory.path + "/app-certificate-public.pem"],
                ],
                [
                    "clientId": Self.workloadClientId,
                    "federated": [
                        [
                            "issuer": Self.federatedIssuer, "subject": Self.federatedSubject,
                            "issuerKey": directory.path + "/issuer-public.pem",
                        ]
                    ],
                ],
            ],
            "managedIdentities": [["clientId": Self.managedIdentityClientId, "default": true]],
            "identityHeader": identityHeader,
            "accounts": containers.isEmpty
                ? []
                : [
                    [
                        "name": Self.storageAccount, "key": accountKey, "containers": containers,
                        "encryptionScopes": encryptionScopes,
                    ]
                ],
            "vault": [
                "readers": readers.map { $0 as Any } ?? NSNull(),
                "secrets": secrets.sorted { $0.key < $1.key }.map {
                    ["name": $0.key, "versions": [["value": $0.value]]]
                },
            ],
        ]
        try JSONSerialization.data(withJSONObject: config).write(
            to: URL(fileURLWithPath: directory.path + "/config.json"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            BuildProducts.repositoryRoot + "/Tests/tools/fake_azure/server.py", "--config",
            directory.path + "/config.json", "--tls-self-signed", directory.path + "/tls.pem", "--port", "0",
            "--exit-on-stdin-eof",
        ]
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null") ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TestPostgres.Unavailable(description: "cannot start the fake Azure server: \(error)")
        }
        do {
            let port = try FakeServerReadiness.port(from: output.fileHandleForReading, name: "the fake Azure server")
            base = "https://127.0.0.1:\(port)"
        } catch {
            process.terminate()
            throw error
        }
        tenant =
            (try? Self.curl(["\(base)/_fake/config"], caBundle: directory.path + "/tls.pem"))
            .flatMap { $0["tenant"] as? String } ?? ""
    }

    deinit { stop() }

    public func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    /// POSTs `json` to a control endpoint (`/_fake/vault/secrets/NAME`, …) and returns the answer.
    @discardableResult
    public func control(_ path: String, _ json: [String: Any]) throws -> [String: Any] {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        return try Self.curl(["-H", "Content-Type: application/json", "-d", body, base + path], caBundle: caBundle)
    }

    /// Every blob the fake holds, by account and container: `["outpostrelay": ["containers": ["NAME": [blob…]]]]`
    /// with each blob's `name`, `size`, `encryptionScope`, metadata and blocks (`GET /_fake/blobs`).
    public func blobs() throws -> [String: Any] {
        try Self.curl([base + "/_fake/blobs"], caBundle: caBundle)
    }

    /// Requests the fake answered, by `service:status` (`vault:200`, `entra:200`, `imds:200`, …).
    public func requests(_ key: String) throws -> Int {
        let stats = try Self.curl([base + "/_fake/stats"], caBundle: caBundle)
        return (stats["requests"] as? [String: Any])?[key] as? Int ?? 0
    }

    private static func curl(_ arguments: [String], caBundle: String) throws -> [String: Any] {
        let result = try ChildProcess.run(
            "/usr/bin/env", ["curl", "-sS", "--fail", "--max-time", "30", "--cacert", caBundle] + arguments)
        guard result.status == 0 else {
            throw TestPostgres.Unavailable(
                description: "the fake Azure server's \(arguments.last ?? ""): \(result.standardError)")
        }
        return (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any] ?? [:]
    }
}
