import AWSSigV4
import ArgumentParser
import AsyncHTTPClient
import AzureCloud
import ControlPlane
import ControlPlaneStorage
import Foundation
import GoogleCloud
import Logging
import ObjectStore
import Secrets
import ServiceLifecycle
import UnixSignals

#if canImport(CDispatch)
    // `struct stat` is attributed to the C module of Dispatch on Linux: importing it makes its fields visible.
    import CDispatch
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `outpost server`: the control plane (agent API v1 and admin API) over SQLite or PostgreSQL.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the control plane: the agent API and the admin API.",
        discussion: """
            Storage: a SQLite file in the data directory by default; --database-url postgres://… (or \
            OUTPOST_DATABASE_URL, which keeps a password out of the process list) for several replicas.
            On the first start with an empty database, a default tenant and an admin key are created; the key is \
            written to DATA_DIR/admin.key (mode 0600) and never logged.
            Delivered metadata is kept in DATA_DIR/blobs, encrypted (AES-256-GCM) with DATA_DIR/blob.key; upload \
            URLs are signed with DATA_DIR/upload-signing.key. Both keys are created on the first start (mode 0600): \
            back them up with the database, since blobs cannot be read without blob.key.
            With --blob-store s3://BUCKET/PREFIX delivered files go to an S3 bucket instead (every object written \
            with server-side encryption, AES256 or aws:kms with --blob-store-kms-key-id), and agents upload into it \
            with SigV4 pre-signed URLs bound to each object's size and checksum; the server uses its own AWS \
            credentials for it. gs://BUCKET/PREFIX keeps them in Cloud Storage (V4 signed URLs, signed with the \
            service account key or through IAM Credentials' signBlob); azure://ACCOUNT/CONTAINER/PREFIX in Azure \
            Blob Storage (a SAS per blob: user delegation under the server's Entra ID identity, or service SAS with \
            --blob-store-account-key). Ingestion checks every file's size and SHA-256 before it publishes.
            Bucket relay deliveries are read from the customers' buckets with this process's own identity: for S3 \
            its AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN), \
            for Cloud Storage its Google identity (the service account key GOOGLE_APPLICATION_CREDENTIALS names, or \
            the metadata server on GCE/GKE; GCE_METADATA_HOST moves it) with the read-only storage scope, for Azure \
            Blob Storage its Entra ID identity (AKS workload identity: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, \
            AZURE_CLIENT_ID; else App Service's IDENTITY_ENDPOINT; else IMDS); each \
            customer grants that identity read access. Relay connections naming another endpoint are read only if \
            the endpoint is allowed with --relay-endpoint. --ca-bundle adds trust roots for all these cloud \
            connections (private endpoints, a TLS-inspecting proxy); the server uses no proxy.
            HTTPS: --tls-cert and --tls-key (PEM files) serve TLS 1.2 or newer; without them the server speaks plain \
            HTTP and belongs behind a TLS-terminating proxy (set --public-url to its https:// address).
            Stops gracefully on SIGINT and SIGTERM.
            """
    )

    @Option(name: .long, help: "The address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:8080"

    @Option(name: .long, help: "The directory for the database and the admin key; created with mode 0700.")
    var dataDir = "./outpost-data"

    @Option(
        name: .long,
        help: "postgres://user@host:5432/db or sqlite:PATH (default: sqlite in the data directory).")
    var databaseURL: String?

    @Option(
        name: .long,
        help: "The URL agents reach this server at, for upload URLs (default: http://LISTEN-ADDRESS).")
    var publicURL: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An S3-compatible, Cloud Storage or Blob Storage endpoint (https://host[:port]) relay connections may name; "
                + "repeatable.",
            discussion: "AWS S3, storage.googleapis.com and each account's own ACCOUNT.blob.core.windows.net are "
                + "always allowed. The server sends its own signed requests and tokens there."))
    var relayEndpoint: [String] = []

    @Option(
        name: .long,
        help:
            "s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX] or azure://ACCOUNT/CONTAINER[/PREFIX]: keep delivered files in S3, Cloud Storage or Azure Blob Storage (default: DATA_DIR/blobs)."
    )
    var blobStore: String?

    @Option(name: .long, help: "The S3 blob store's region (default: AWS_REGION).")
    var blobStoreRegion: String?

    @Option(
        name: .long,
        help:
            "The blob store's endpoint, http(s)://HOST[:PORT][/PATH]: S3-compatible, a private Cloud Storage endpoint, or an Azure account URL."
    )
    var blobStoreEndpoint: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "IAM Credentials' endpoint, for a Cloud Storage blob store under the metadata server's identity.",
            discussion: "Upload URLs are then signed by signBlob (default https://iamcredentials.googleapis.com)."))
    var googleIamEndpoint: String = GoogleIAMSigner.defaultEndpoint

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An Azure blob store's account key, by reference (env:NAME or file:PATH), for service SAS upload URLs.",
            discussion:
                "Without it, the server uses its Entra ID identity (workload identity, App Service, IMDS) and signs "
                + "user delegation SAS upload URLs."))
    var blobStoreAccountKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A Cloud Storage HMAC key, by reference (env:NAME or file:PATH) holding ACCESS_ID:SECRET, to sign upload URLs.",
            discussion:
                "Upload URLs are then GOOG4-HMAC-SHA256; the server's own requests still use its Google identity. "
                + "Without it, the service account key signs them, or IAM Credentials' signBlob."))
    var blobStoreHmacKey: String?

    @Option(name: .long, help: "Encrypt S3 blobs with this KMS key (aws:kms) instead of AES256.")
    var blobStoreKmsKeyId: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long a claim or lease renewal keeps a run's lease, in seconds (5–3600).",
            discussion: "Agents renew every ttl/4 and stop a job themselves when they could not renew for ttl minus "
                + "their fenceMargin, so keep it well above the agents' fenceMargin."))
    var leaseTtlSeconds = 60

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long after a lease expired its run is re-queued, in seconds (0–3600).",
            discussion: "Expired leases and start windows are looked for every 2 s (every 1 s without grace)."))
    var leaseGraceSeconds = 30

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long a claimed run waits for its agent's start before it goes back to the queue, in seconds (2–600).",
            discussion:
                "Short, so a run answered to an agent that died with its long poll open reaches a live one soon."))
    var startWindowSeconds = 10

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The lease a server holds on a run it ingests, renewed every quarter of it, in seconds (10–3600).",
            discussion: "A server that dies while it ingests leaves its runs to another replica (or itself, restarted) "
                + "once this has passed."))
    var ingestionLeaseSeconds = 60

    @Option(name: .long, help: "How long a direct-ingestion upload URL stays valid, in seconds (10–86400).")
    var uploadGrantSeconds = 600

    @Option(
        name: .long,
        help: "Failed authentications per client address and minute before the server answers 429 (1–1000000).")
    var failedAuthLimit = 20

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The longest an agent's claim is held open, in seconds (1–50).",
            discussion: "Keep it below the idle timeout of any proxy between the agents and the server."))
    var claimMaxWaitSeconds = ServerConfiguration().claimMaxWaitSeconds

    @Option(
        name: .customLong("trusted-proxy"),
        help: """
            A proxy (address or CIDR range) whose X-Forwarded-For names the client, for the failed-authentication \
            limit (repeatable; none by default, so the header is ignored).
            """)
    var trustedProxies: [String] = []

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(
        name: .customLong("tls-cert"),
        help: "Serve HTTPS (TLS 1.2 or newer) with this PEM certificate chain, leaf first; needs --tls-key.")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .customLong("ca-bundle"),
        help: ArgumentHelp(
            "PEM CA certificates to trust, besides the system's, on the server's own HTTPS connections to clouds.",
            discussion: "The blob store, customers' relay buckets, and the token, IAM and Entra ID endpoints: for "
                + "private endpoints or a TLS-inspecting proxy whose CA is not in the system's trust store."))
    var caBundle: String?

    func run() async throws {
        var logger = Logger(label: "outpost.server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var configuration = ServerConfiguration()
        let cloud: CloudHTTP
        do {
            (configuration.host, configuration.port) = try Self.parseListen(listen)
            configuration.publicBaseURL = try publicURL.map(Self.checkPublicURL)
            try applyLimits(to: &configuration)
            for endpoint in relayEndpoint where !endpoint.hasPrefix("https://") && !endpoint.hasPrefix("http://") {
                throw ServerCommandError(usage: "--relay-endpoint must be http(s)://HOST[:PORT] (got '\(endpoint)')")
            }
            configuration.tls = try Self.loadTLS(certificate: tlsCertificate, key: tlsKey)
            cloud = try caBundle.map(CloudHTTP.init(caBundle:)) ?? .system
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.usage)
        }
        do {
            try await run(configuration: configuration, cloud: cloud, logger: logger)
        } catch {
            await cloud.shutdown()
            throw error
        }
        await cloud.shutdown()
    }

    private func run(configuration: ServerConfiguration, cloud: CloudHTTP, logger: Logger) async throws {
        if configuration.publicBaseURL == nil && ["0.0.0.0", "::"].contains(configuration.host) {
            Terminal.warning(
                "listening on every interface without --public-url: upload URLs will name \(configuration.host), "
                    + "which agents cannot reach; set --public-url to the address agents use")
        }

        let storage: Storage
        let identities: ServerIdentities
        let blobs: Blobs
        do {
            try Self.prepareDataDirectory(dataDir, logger: logger)
            storage = try chooseStorage()
            identities = try ServerIdentities(environment: ProcessEnvironment.current, cloud: cloud)
            blobs = try await prepareBlobs(cloud: cloud, identities: identities, logger: logger)
        } catch let error as ServerCommandError {
            Terminal.error(error.description)
            throw ExitCode(error.isUsage ? ExitStatus.usage : ExitStatus.failure)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.usage)
        }

        do {
            switch storage {
            case .sqlite(let path):
                logger.info("storage.sqlite", metadata: ["file.path": .string(path)])
                try await serve(
                    store: try SQLiteControlPlaneStore(path: path), blobs: blobs, configuration: configuration,
                    cloud: cloud, identities: identities, logger: logger)
            case .postgres(let url, let settings):
                logger.info(
                    "storage.postgres",
                    metadata: [
                        "db.host": .string(settings.host), "db.port": .stringConvertible(settings.port),
                        "db.name": .string(settings.database),
                    ])
                try await serve(
                    store: try PostgresControlPlaneStore(url: url, logger: logger), blobs: blobs,
                    configuration: configuration, cloud: cloud, identities: identities, logger: logger)
            }
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(ExitStatus.failure)
        }
    }

    /// Checks the lease, grant and authentication limits of the command line and sets them.
    func applyLimits(to configuration: inout ServerConfiguration) throws {
        func check(_ value: Int, _ range: ClosedRange<Int>, _ option: String) throws -> Int {
            guard range.contains(value) else {
                throw ServerCommandError(
                    usage: "--\(option) must be \(range.lowerBound)–\(range.upperBound) (got \(value))")
            }
            return value
        }
        configuration.leaseTTLSeconds = try check(leaseTtlSeconds, 5...3600, "lease-ttl-seconds")
        configuration.leaseGraceSeconds = try check(leaseGraceSeconds, 0...3600, "lease-grace-seconds")
        configuration.startWindowSeconds = try check(startWindowSeconds, 2...600, "start-window-seconds")
        configuration.ingestionLeaseSeconds = try check(ingestionLeaseSeconds, 10...3600, "ingestion-lease-seconds")
        configuration.uploadGrantSeconds = try check(uploadGrantSeconds, 10...86_400, "upload-grant-seconds")
        configuration.failedAuthenticationLimit = try check(failedAuthLimit, 1...1_000_000, "failed-auth-limit")
        do {
            configuration.trustedProxies = try TrustedProxies(trustedProxies)
        } catch {
            throw ServerCommandError(usage: "--trusted-proxy \(error)")
        }
        // The default is the protocol's maximum, which agents' client timeouts are built around.
        configuration.claimMaxWaitSeconds = try check(
            claimMaxWaitSeconds, 1...ServerConfiguration().claimMaxWaitSeconds, "claim-max-wait-seconds")
        // Start windows (no grace) and short graces are only worth something if expiry is looked for about as often.
        configuration.leaseExpiryInterval = .seconds(min(2, max(1, leaseGraceSeconds)))
    }

    /// Runs the control plane (start-up, then the application and its services) until SIGINT or SIGTERM and lets
    /// held requests finish; the first admin key, when one is minted, goes to `<data dir>/admin.key` (0600).
    private func serve(
        store: some ControlPlaneStore, blobs: Blobs, configuration: ServerConfiguration, cloud: CloudHTTP,
        identities: ServerIdentities, logger: Logger
    ) async throws {
        try await serve(
            store: store, blobs: blobs.store, signer: blobs.signer, configuration: configuration, cloud: cloud,
            identities: identities, logger: logger)
    }

    private func serve(
        store: some ControlPlaneStore, blobs: some BlobStore, signer: UploadSigner, configuration: ServerConfiguration,
        cloud: CloudHTTP, identities: ServerIdentities, logger: Logger
    ) async throws {
        let keyPath = dataDir + "/admin.key"
        let server = ControlPlaneServer(
            store: store, blobs: blobs, signer: signer, configuration: configuration,
            relayReader: RelayReader(
                environment: AWSEnvironment(ProcessEnvironment.current), allowedEndpoints: relayEndpoint,
                google: identities.google, azure: identities.azure, httpClient: cloud.client,
                tlsConfiguration: cloud.tlsConfiguration),
            logger: logger
        ) { key in
            try Self.writeSecretFile(keyPath, contents: key + "\n")
            logger.notice(
                "bootstrap.admin_key_written", metadata: ["file.path": .string(keyPath), "file.mode": "0600"])
        }
        try await server.run()
    }

    /// The listener's TLS from `--tls-cert` and `--tls-key`: both or neither.
    static func loadTLS(certificate: String?, key: String?) throws -> ServerTLS? {
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?): return try ServerTLS(certificateFile: certificate, keyFile: key)
        case (nil, _?): throw ServerTLSError.usage("--tls-key needs --tls-cert")
        case (_?, nil): throw ServerTLSError.usage("--tls-cert needs --tls-key")
        }
    }

    /// Where delivered files go and what signs their upload URLs.
    struct Blobs {
        var store: any BlobStore
        var signer: UploadSigner
    }

    /// Opens the blob store (the encrypted folder in the data directory, or the S3 bucket of `--blob-store`) and
    /// the upload-signing secret, creating the local keys (32 random bytes, mode 0600) on the first start.
    func prepareBlobs(cloud: CloudHTTP, identities: ServerIdentities, logger: Logger) async throws -> Blobs {
        let environment = ProcessEnvironment.current
        do {
            let secret = try LocalBlobStore.loadOrCreateKey(at: dataDir + "/upload-signing.key")
            let signer = UploadSigner(secret: secret)
            let kind = blobStore.map { $0.prefix(while: { $0 != ":" }) }
            if blobStoreHmacKey != nil && kind != "gs" {
                throw ServerCommandError(usage: "--blob-store-hmac-key is for a gs:// blob store")
            }
            if blobStoreAccountKey != nil && kind != "azure" {
                throw ServerCommandError(usage: "--blob-store-account-key is for an azure:// blob store")
            }
            if let blobStore, blobStore.hasPrefix("azure://") {
                let store = try await azureBlobStore(location: blobStore, cloud: cloud, tokens: identities.azure)
                logger.info(
                    "blobs.azure",
                    metadata: [
                        "azure.account": .string(store.client.account),
                        "azure.container": .string(store.client.container),
                        "azure.prefix": .string(store.prefix),
                    ])
                return Blobs(store: store, signer: signer)
            }
            if let blobStore, blobStore.hasPrefix("gs://") {
                let store = try await gcsBlobStore(location: blobStore, cloud: cloud, tokens: identities.google)
                logger.info(
                    "blobs.gcs",
                    metadata: [
                        "gcs.bucket": .string(store.client.bucket), "gcs.prefix": .string(store.prefix),
                        "gcs.signer": .string(store.signer.signerName),
                    ])
                return Blobs(store: store, signer: signer)
            }
            if let blobStore {
                let store = try Self.s3BlobStore(
                    location: blobStore, region: blobStoreRegion, endpoint: blobStoreEndpoint,
                    kmsKeyId: blobStoreKmsKeyId, environment: environment, cloud: cloud)
                logger.info(
                    "blobs.s3",
                    metadata: ["s3.bucket": .string(store.client.bucket), "s3.prefix": .string(store.prefix)])
                return Blobs(store: store, signer: signer)
            }
            let key = try LocalBlobStore.loadOrCreateKey(at: dataDir + "/blob.key")
            let store = try LocalBlobStore(root: dataDir + "/blobs", key: key)
            return Blobs(store: store, signer: signer)
        } catch let error as BlobError {
            throw ServerCommandError(error.message)
        }
    }

    /// The S3 blob store the options describe, with the process's AWS credentials.
    static func s3BlobStore(
        location: String, region: String?, endpoint: String?, kmsKeyId: String?, environment: [String: String],
        cloud: CloudHTTP = .system
    ) throws -> S3BlobStore {
        let bucket: String
        let prefix: String
        do {
            (bucket, prefix) = try S3BlobStore.parseLocation(location)
        } catch let error as BlobError {
            throw ServerCommandError(usage: "--blob-store: \(error.message)")
        }
        let aws = AWSEnvironment(environment)
        guard let region = region ?? aws.region else {
            throw ServerCommandError(usage: "the S3 blob store needs a region: --blob-store-region or AWS_REGION")
        }
        guard let credentials = aws.credentialSource(region: region) else {
            throw ServerCommandError(
                usage: "the S3 blob store needs AWS credentials: \(AWSEnvironment.missingCredentialsAdvice)")
        }
        do {
            let client = try S3Client(
                bucket: bucket,
                configuration: S3Configuration(
                    endpoint: endpoint, region: region, credentials: credentials,
                    tlsConfiguration: cloud.tlsConfiguration),
                httpClient: cloud.client)
            return S3BlobStore(
                client: client, prefix: prefix,
                serverSideEncryption: kmsKeyId.map { .kms(keyId: $0) } ?? .aes256)
        } catch let error as ObjectStoreError {
            throw ServerCommandError(usage: "--blob-store: \(error.message)")
        }
    }

    /// The Cloud Storage blob store of `--blob-store gs://…`, with the process's Google identity: a service account
    /// key (GOOGLE_APPLICATION_CREDENTIALS) signs upload URLs itself; under the metadata server's identity they are
    /// signed by IAM Credentials' signBlob.
    func gcsBlobStore(location: String, cloud: CloudHTTP, tokens: GoogleAccessTokens) async throws -> GCSBlobStore {
        let bucket: String
        let prefix: String
        do {
            (bucket, prefix) = try GCSBlobStore.parseLocation(location)
        } catch let error as BlobError {
            throw ServerCommandError(usage: "--blob-store: \(error.message)")
        }
        guard blobStoreRegion == nil, blobStoreKmsKeyId == nil else {
            throw ServerCommandError(
                usage: "--blob-store-region and --blob-store-kms-key-id are for S3; Cloud Storage encrypts every object"
            )
        }
        let endpoint = blobStoreEndpoint ?? GCSClient.defaultEndpoint
        let credential: GCSSignedURLs.Credential
        if let reference = blobStoreHmacKey {
            credential = .hmac(try await Self.hmacKey(reference: reference))
        } else {
            switch tokens.identity {
            case .serviceAccount(let key):
                credential = .serviceAccount(key)
            case .metadataServer, .externalAccount:
                let email: String
                do {
                    email = try await tokens.serviceAccountEmail()
                } catch {
                    throw ServerCommandError("--blob-store: \(error)")
                }
                let iam = GoogleIAMSigner(tokens: tokens, endpoint: googleIamEndpoint, client: cloud.client)
                credential = .remote(email: email) { try await iam.sign($0, as: email) }
            }
        }
        let client: GCSClient
        do {
            client = try GCSClient(
                bucket: bucket, endpoint: endpoint, tokens: tokens, httpClient: cloud.client,
                tlsConfiguration: cloud.tlsConfiguration ?? GCSClient.defaultTLS)
        } catch {
            throw ServerCommandError(usage: "--blob-store: \(error.message)")
        }
        return GCSBlobStore(
            client: client, prefix: prefix, signer: GCSSignedURLs(credential: credential, endpoint: endpoint))
    }

    /// The HMAC key `--blob-store-hmac-key` names: `ACCESS_ID:SECRET`, read now. Messages never show the secret.
    static func hmacKey(reference: String) async throws -> AWSCredentials {
        let text: String
        do {
            text = try await SecretResolver.standard.resolve(try SecretReference(parsing: reference))
        } catch {
            throw ServerCommandError(usage: "--blob-store-hmac-key: \(error)")
        }
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].hasPrefix("GOOG"), !parts[1].isEmpty,
            !parts[0].contains(where: \.isWhitespace), !parts[1].contains(where: \.isWhitespace)
        else {
            throw ServerCommandError(
                usage:
                    "--blob-store-hmac-key \(reference) does not hold ACCESS_ID:SECRET (an access id GOOG…, a colon, "
                    + "the secret)")
        }
        return AWSCredentials(accessKeyId: String(parts[0]), secretAccessKey: String(parts[1]))
    }

    /// The Azure blob store of `--blob-store azure://…`: with `--blob-store-account-key`, Shared Key requests and
    /// service SAS upload URLs; without, the server's Entra ID identity and user delegation SAS.
    func azureBlobStore(location: String, cloud: CloudHTTP, tokens: AzureAccessTokens) async throws -> AzureBlobStore {
        let account: String
        let container: String
        let prefix: String
        do {
            (account, container, prefix) = try AzureBlobStore.parseLocation(location)
        } catch let error as BlobError {
            throw ServerCommandError(usage: "--blob-store: \(error.message)")
        }
        guard blobStoreRegion == nil, blobStoreKmsKeyId == nil else {
            throw ServerCommandError(
                usage: "--blob-store-region and --blob-store-kms-key-id are for S3; Azure encrypts every blob")
        }
        let authorization: AzureBlobClient.Authorization
        let signer: AzureBlobStore.Signer
        if let reference = blobStoreAccountKey {
            let key: AzureSharedKey
            do {
                let text = try await SecretResolver.standard.resolve(try SecretReference(parsing: reference))
                key = try AzureSharedKey(
                    account: account, base64Key: text.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                throw ServerCommandError(usage: "--blob-store-account-key: \(error)")
            }
            (authorization, signer) = (.sharedKey(key), .accountKey(key))
        } else {
            (authorization, signer) = (.bearer(tokens), .userDelegation)
        }
        do {
            return AzureBlobStore(
                client: try AzureBlobClient(
                    account: account, container: container, accountURL: blobStoreEndpoint, authorization: authorization,
                    httpClient: cloud.client, tlsConfiguration: cloud.tlsConfiguration),
                prefix: prefix, signer: signer)
        } catch {
            throw ServerCommandError(usage: "--blob-store: \(error)")
        }
    }

    /// `http(s)://host[:port][/path]` without a query, fragment or trailing slash.
    static func checkPublicURL(_ text: String) throws -> String {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://"),
            trimmed.split(separator: "/", omittingEmptySubsequences: true).count >= 2,
            !trimmed.contains("?"), !trimmed.contains("#"), !trimmed.contains("@"),
            !trimmed.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else {
            throw ServerCommandError(
                usage: "--public-url must be http(s)://HOST[:PORT][/PATH], e.g. https://outpost.example.com")
        }
        return trimmed
    }

    /// Where the control plane keeps its data.
    enum Storage {
        case sqlite(path: String)
        case postgres(url: String, settings: PostgresStoreConfiguration)
    }

    private func chooseStorage() throws -> Storage {
        let url = databaseURL ?? getenv("OUTPOST_DATABASE_URL").map { String(cString: $0) }
        guard let url, !url.isEmpty else { return .sqlite(path: dataDir + "/outpost.sqlite") }
        if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ServerCommandError(usage: "--database-url sqlite:PATH needs a path") }
            return .sqlite(path: path)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let settings: PostgresStoreConfiguration
            do {
                settings = try PostgresStoreConfiguration(url: url)
            } catch let error as StorageError {
                throw ServerCommandError(usage: error.message)
            }
            if databaseURL != nil && settings.password != nil {
                Terminal.warning(
                    "the database URL on the command line contains a password, which other users can see in the "
                        + "process list; set OUTPOST_DATABASE_URL instead")
            }
            return .postgres(url: url, settings: settings)
        }
        throw ServerCommandError(usage: "--database-url must start with postgres://, postgresql:// or sqlite:")
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, or a bare port (loopback).
    static func parseListen(_ text: String) throws -> (String, Int) {
        var host = "127.0.0.1"
        var portText = Substring(text)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = text[text.index(after: close)...]
            guard portText.first == ":" else { throw ServerCommandError(usage: "--listen must be HOST:PORT") }
            portText = portText.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ServerCommandError(usage: "--listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got '\(text)')")
        }
        return (host, port)
    }

    /// Creates the data directory (mode 0700) with its parents; warns when an existing one is open to others.
    static func prepareDataDirectory(_ path: String, logger: Logger) throws {
        var built = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            built += "/" + component
            let mode: mode_t = index == components.count - 1 ? 0o700 : 0o755
            if mkdir(built, mode) != 0 && errno != EEXIST {
                throw ServerCommandError(
                    "cannot create the data directory \(built): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK else {
            throw ServerCommandError(
                "the data directory \(path) is a symbolic link: give its real path (it holds the server's keys)")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ServerCommandError("the data directory \(path) exists and is not a directory")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw ServerCommandError(
                "the data directory \(path) is writable by group or others (mode "
                    + "\(String(info.st_mode & 0o777, radix: 8))): anyone who can write there could plant its keys; "
                    + "chmod 700 it")
        }
        if info.st_mode & 0o077 != 0 {
            logger.warning(
                "data_dir.permissive",
                metadata: ["file.path": .string(path), "file.mode": .string(String(info.st_mode & 0o777, radix: 8))])
        }
    }

    /// Writes `contents` to `path` readable by the owner only, replacing any earlier file without following a
    /// symbolic link.
    static func writeSecretFile(_ path: String, contents: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ServerCommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fchmod(descriptor, 0o600) == 0 else {
            throw ServerCommandError("cannot restrict \(path) to mode 0600: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw ServerCommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A start-up failure of `outpost server`, with a message safe to print.
struct ServerCommandError: Error, CustomStringConvertible {
    let description: String
    /// A bad command line rather than a failing environment (exit status 64).
    let isUsage: Bool

    init(_ description: String) {
        self.description = description
        self.isUsage = false
    }

    init(usage description: String) {
        self.description = description
        self.isUsage = true
    }
}
