internal import AWSSigV4
internal import AzureCloud
internal import Crypto
internal import Foundation
internal import GoogleCloud
internal import Logging
internal import Metadata
internal import ObjectStore
internal import OutpostProtocol
internal import Relay
internal import Secrets

/// Bucket relay: writes the run's files and manifest into the organisation's own bucket (S3 API or Google Cloud
/// Storage) or, for an endpoint `file:///path`, into a local folder, then reports the object keys and checksums.
///
/// Keys are `<prefix>/<connection id>/<run id>/<file>` (`RelayTarget.runPrefix`, which the control plane checks
/// them against). The manifest goes last, so whoever reads the bucket sees a manifest only when every file it names
/// is there. A delivery that is resumed (after an agent restart, or a retry after the bucket was unreachable)
/// sends only the files not already in the bucket with their size and SHA-256: each object carries its SHA-256 as
/// custom metadata (`outpost-sha256`), since neither S3's entity tag nor Cloud Storage's hashes are a SHA-256.
/// On Cloud Storage every write carries a generation precondition, so nothing is replaced unseen (`GCSRelayBucket`).
struct RelayDelivery: Sendable {
    /// The custom-metadata name of an object's SHA-256 (lower-case hex of the plaintext, as in the manifest).
    static let sha256Metadata = "outpost-sha256"

    let target: RelayTarget
    let network: OutboundNetwork
    let policy: AgentConfiguration.Policy
    let environment: [String: String]
    let controlPlaneHost: String
    let folder: String
    let key: [UInt8]
    var credentials = Credentials()
    let logger: Logger

    /// What the agent writes relay buckets with besides its environment's identity; none by default.
    struct Credentials: Sendable {
        /// `secretStores.azure`: its app (client secret or certificate) is the agent's Entra ID identity for relay
        /// containers too; nil: the identity the Azure variables describe.
        var azure: AzureKeyVaultSettings? = nil
        /// `relay.azure.accounts`: accounts written with Shared Key, their keys by reference.
        var azureAccountKeys: [String: SecretReference] = [:]
        /// Reads the references above (the agent's own resolver, never a connection's).
        var resolve: @Sendable (SecretReference) async throws -> String = { reference in
            throw AgentError(.delivery, "no resolver for \(reference)")
        }
    }

    /// The object key of one file of a run.
    static func objectKey(_ target: RelayTarget, connectionId: String, runId: String, file: String) -> String {
        target.runPrefix(connectionId: connectionId, runId: runId) + file
    }

    func deliver(runId: String, connectionId: String) async throws -> CompleteRequest.RelayObjects {
        let items = try DirectDelivery.items(folder: folder, key: key)
        let bucket = try await self.bucket()
        let prefix = target.runPrefix(connectionId: connectionId, runId: runId)
        logger.info(
            "delivery.relaying",
            metadata: [
                "run.id": "\(runId)", "delivery.files": "\(items.count)",
                "delivery.bytes": "\(items.reduce(Int64(0)) { $0 + $1.file.bytes })",
                "delivery.target": "\(target.location(prefix))",
            ])
        let present: [String: ListedObject]
        do {
            present = try await bucket.present(prefix: prefix)
        } catch let error as ObjectStoreError where error.isRetryable {
            throw AgentError(.unavailable, "listing \(target.location(prefix)) failed: \(error)")
        } catch {
            // An agent that may not list the bucket sends everything (or, on Cloud Storage, finds what is there).
            logger.debug("delivery.relay_listing_refused", metadata: ["error": "\(error)"])
            present = [:]
        }
        var objects: [CompleteRequest.RelayObjects.Object] = []
        var sent = 0
        for item in items {
            let objectKey = Self.objectKey(target, connectionId: connectionId, runId: runId, file: item.file.path)
            do {
                if try await !bucket.holds(item, key: objectKey, listed: present[objectKey]) {
                    if try await bucket.put(item, key: objectKey, listed: present[objectKey], spoolKey: key) {
                        sent += 1
                    }
                }
            } catch let error as ObjectStoreError {
                throw AgentError(
                    error.isRetryable ? .unavailable : .delivery,
                    "writing \(item.file.path) to \(target.location(objectKey)) failed: \(error)")
            }
            objects.append(.init(key: objectKey, bytes: item.file.bytes, sha256: item.file.sha256))
        }
        logger.info(
            "delivery.relayed",
            metadata: [
                "run.id": "\(runId)", "delivery.files": "\(items.count)", "delivery.sent": "\(sent)",
                "delivery.kept": "\(items.count - sent)",
            ])
        let manifestKey = Self.objectKey(
            target, connectionId: connectionId, runId: runId, file: MetadataFormat.manifestFileName)
        return CompleteRequest.RelayObjects(bucket: target.bucket, manifestKey: manifestKey, objects: objects)
    }

    /// Uploads a spooled file through `upload`, which reads it with the `read` it is given, then checks that what
    /// was read is the manifest's SHA-256: a file that changed in the spool meanwhile is removed and fails.
    static func uploadVerified(
        _ item: DirectDelivery.Item, spoolKey: [UInt8], removing remove: () async throws -> Void,
        _ upload: ((Int) throws -> [UInt8]) async throws -> Void
    ) async throws {
        let reader = try SealedPartReader(path: item.localPath, key: spoolKey)
        var hasher = SHA256()
        try await upload { count in
            let bytes = try reader.read(upTo: count)
            hasher.update(data: bytes)
            return bytes
        }
        guard Hex.encode(hasher.finalize()) == item.file.sha256 else {
            try? await remove()
            throw ObjectStoreError(.file, "\(item.file.path) changed in the spool while it was uploaded")
        }
    }

    /// `outpost agent --check`: the policy allows the bucket's endpoints, the identity gets in, and what it may do
    /// there, without writing anything.
    ///
    /// - Returns: what was found, for the check's line.
    /// - Throws: `AgentError` saying what is missing.
    func check() async throws -> String {
        let bucket = try await self.bucket()
        do {
            return try await bucket.check(prefix: target.folder)
        } catch let error as ObjectStoreError {
            throw AgentError(.delivery, "\(target.location(target.prefix)): \(error)")
        }
    }

    /// The bucket the target names, after checking the local policy allows its endpoint (and, for Cloud Storage,
    /// the identity's token endpoint).
    private func bucket() async throws -> any RelayBucket {
        if let endpoint = target.endpoint, endpoint.hasPrefix("file://") {
            return FolderRelayBucket(target: target)
        }
        let egress = try EgressPolicy(allowedHosts: policy.allowedHosts, allowedSources: [])
        @Sendable func require(_ url: String, _ what: String) throws {
            let decision = egress.checkURL(url)
            guard decision.allowed else {
                let components = URLComponents(string: url)
                let place =
                    "\(components?.plainHost ?? url):\(components?.port ?? (components?.scheme == "http" ? 80 : 443))"
                throw AgentError(
                    .policyDenied,
                    "\(what) \(place) is refused by the agent's local policy (add it to policy.allowedHosts): "
                        + decision.reason)
            }
        }
        switch target.kind {
        case .s3:
            let aws = AWSEnvironment(environment)
            guard let credentials = aws.credentialSource(region: target.region ?? "us-east-1") else {
                throw AgentError(
                    .delivery,
                    "no AWS credentials for the relay bucket \(target.bucket): \(AWSEnvironment.missingCredentialsAdvice)"
                )
            }
            let configuration = S3Configuration(relay: target, credentials: credentials)
            let url: String
            do {
                url = try S3Client(bucket: target.bucket, configuration: configuration).url(forKey: "probe")
            } catch {
                throw AgentError(.delivery, "the relay bucket is not usable: \(error)")
            }
            try require(url, "the relay bucket's endpoint")
            return S3RelayBucket(
                client: try S3Client(
                    bucket: target.bucket, configuration: configuration, httpClient: network.client(forURL: url)),
                target: target)
        case .azureBlob:
            let account = target.account ?? ""
            let endpoint = target.endpoint ?? "https://\(account).blob.core.windows.net"
            try require(endpoint, "the relay container's endpoint")
            let authorization: AzureBlobClient.Authorization
            if let reference = credentials.azureAccountKeys[account] {
                do {
                    let text = try await credentials.resolve(reference)
                    authorization = .sharedKey(
                        try AzureSharedKey(
                            account: account, base64Key: text.trimmingCharacters(in: .whitespacesAndNewlines)))
                } catch {
                    throw AgentError(
                        .delivery, "the account key of \(account) (relay.azure.accounts, \(reference)): \(error)")
                }
            } else {
                let settings = credentials.azure ?? AzureKeyVaultSettings()
                let identity: AzureIdentity
                do {
                    identity = try await settings.identity(
                        environment: environment, purpose: "for the relay container", read: credentials.resolve)
                } catch {
                    throw AgentError(.delivery, "no Entra ID identity for \(target.location()): \(error)")
                }
                let authority = settings.authority(environment: environment)
                authorization = .bearer(
                    AzureAccessTokens(
                        identity: identity, authorityHost: authority,
                        client: network.client(forURL: identity.tokenURL(authorityHost: authority)),
                        hostCheck: { url in try require(url, "the Entra ID endpoint") }))
            }
            do {
                return AzureRelayBucket(
                    client: try AzureBlobClient(
                        relay: target, authorization: authorization, httpClient: network.client(forURL: endpoint)),
                    target: target)
            } catch {
                throw AgentError(.delivery, "the relay container is not usable: \(error)")
            }
        case .gcs:
            let endpoint = target.endpoint ?? GCSClient.defaultEndpoint
            try require(endpoint, "the relay bucket's endpoint")
            let identity: GoogleAccessTokens.Identity
            do {
                identity = try .applicationDefault(environment: environment) { path in
                    try Array(Data(contentsOf: URL(fileURLWithPath: path)))
                }
            } catch {
                throw AgentError(.delivery, "no Google identity for the relay bucket \(target.location()): \(error)")
            }
            let tokens = GoogleAccessTokens(
                identity: identity, client: network.client(forURL: identity.tokenURL),
                hostCheck: { url in try require(url, "the Google token endpoint") })
            do {
                return GCSRelayBucket(
                    client: try GCSClient(
                        relay: target, tokens: tokens, scope: GCSClient.readWriteScope,
                        httpClient: network.client(forURL: endpoint), tlsConfiguration: nil),
                    target: target,
                    sessions: folder.isEmpty ? nil : (folder as NSString).deletingLastPathComponent + "/relay-sessions")
            } catch {
                throw AgentError(.delivery, "the relay bucket is not usable: \(error)")
            }
        }
    }
}

extension RelayDelivery.Credentials {
    /// The configuration's relay credentials, read through the agent's own `resolver`.
    init(configuration: AgentConfiguration, resolver: SecretResolver) {
        self.init(
            azure: configuration.secretStores.azure, azureAccountKeys: configuration.relay.azureAccountKeys,
            resolve: { try await resolver.resolve($0) })
    }
}

/// An object a listing found: its size and the SHA-256 recorded with it, when the listing carries metadata.
struct ListedObject: Sendable, Equatable {
    var bytes: Int64
    var sha256: String?
    /// Cloud Storage's generation, to replace exactly this object.
    var generation: Int64?

    func holds(_ item: DirectDelivery.Item) -> Bool { bytes == item.file.bytes && sha256 == item.file.sha256 }
}

/// A relay bucket as the agent writes it; failures are `ObjectStoreError`s, which `RelayDelivery` words.
protocol RelayBucket: Sendable {
    /// The objects under `prefix`, by key.
    func present(prefix: String) async throws -> [String: ListedObject]
    /// Whether `key` already holds `item` whole (same size and SHA-256).
    func holds(_ item: DirectDelivery.Item, key: String, listed: ListedObject?) async throws -> Bool
    /// Writes `item` under `key` (where the listing found `listed`); false when the object turned out to hold it
    /// already (kept, not sent).
    func put(_ item: DirectDelivery.Item, key: String, listed: ListedObject?, spoolKey: [UInt8]) async throws -> Bool
    /// What the agent may do under `prefix`, found without writing; throws when it may not write.
    func check(prefix: String) async throws -> String
}

struct S3RelayBucket: RelayBucket {
    let client: S3Client
    let target: RelayTarget

    func present(prefix: String) async throws -> [String: ListedObject] {
        var found: [String: ListedObject] = [:]
        for try await object in client.listObjects(prefix: prefix) {
            found[object.key] = ListedObject(bytes: object.bytes)
        }
        return found
    }

    /// A listed object of the right size is read back for its SHA-256 (S3 listings carry no metadata); an object
    /// the agent may not read is sent again.
    func holds(_ item: DirectDelivery.Item, key: String, listed: ListedObject?) async throws -> Bool {
        guard listed?.bytes == item.file.bytes else { return false }
        do {
            let info = try await client.headObject(key: key)
            return info.bytes == item.file.bytes && info.metadata[RelayDelivery.sha256Metadata] == item.file.sha256
        } catch let error as ObjectStoreError where error.isRetryable {
            throw error
        } catch {
            return false
        }
    }

    /// S3 has no way to ask for a permission without using it: a listing of the prefix shows the bucket and the
    /// credentials work (an agent that may only write is told resumed deliveries re-send).
    func check(prefix: String) async throws -> String {
        do {
            for try await _ in client.listObjects(prefix: prefix) { break }
            return "reachable and listable (write permission is not tested: nothing is written)"
        } catch let error as ObjectStoreError where error.code == .accessDenied {
            return "reachable; the agent may not list it, so a resumed delivery re-sends "
                + "every file (write permission is not tested: nothing is written)"
        }
    }

    func put(
        _ item: DirectDelivery.Item, key: String, listed: ListedObject?, spoolKey: [UInt8]
    ) async throws -> Bool {
        let reader = try SealedPartReader(path: item.localPath, key: spoolKey)
        let result = try await client.upload(
            key: key, size: item.file.bytes, serverSideEncryption: try ServerSideEncryption(relay: target),
            metadata: [RelayDelivery.sha256Metadata: item.file.sha256]
        ) { count in try reader.read(upTo: count) }
        guard result.sha256 == item.file.sha256 else {
            throw ObjectStoreError(.file, "\(item.file.path) changed in the spool while it was uploaded")
        }
        return true
    }
}

struct GCSRelayBucket: RelayBucket {
    let client: GCSClient
    let target: RelayTarget
    /// The run's folder of resumable sessions (beside its files in the spool, sealed with the spool key), so a
    /// large file cut off by a restart goes on from what Cloud Storage holds; nil: none kept.
    var sessions: String? = nil

    func present(prefix: String) async throws -> [String: ListedObject] {
        var found: [String: ListedObject] = [:]
        try await client.listObjects(prefix: prefix) { object in
            found[object.name] = ListedObject(
                bytes: object.bytes, sha256: object.metadata[RelayDelivery.sha256Metadata],
                generation: object.generation.flatMap { Int64($0) })
        }
        return found
    }

    /// `buckets.testIamPermissions`: creating objects is required; listing them lets a resumed delivery check
    /// what is there.
    func check(prefix: String) async throws -> String {
        let held = Set(try await client.testPermissions(["storage.objects.create", "storage.objects.list"]))
        guard held.contains("storage.objects.create") else {
            throw ObjectStoreError(
                .accessDenied,
                "the agent's Google identity may not create objects in \(target.location()): grant it "
                    + "roles/storage.objectCreator on the bucket")
        }
        return "a token for the agent's Google identity; it may create objects"
            + (held.contains("storage.objects.list")
                ? " and list them" : " (not list them: a resumed delivery finds finished files by their names)")
    }

    /// Cloud Storage listings carry the metadata: no request per object.
    func holds(_ item: DirectDelivery.Item, key: String, listed: ListedObject?) async throws -> Bool {
        listed?.holds(item) ?? false
    }

    /// Writes with a generation precondition, so nothing is replaced unseen: "does not exist" when the listing
    /// found nothing, "exactly the generation listed" when it found other bytes (an earlier attempt of the run).
    /// When creation finds an object the listing did not show (an agent that may not list), the object is read
    /// back: the same bytes are kept, other bytes replaced by generation; an agent that may not read it either
    /// keeps it, and the control plane's SHA-256 check decides (Cloud Storage shows only whole objects).
    func put(
        _ item: DirectDelivery.Item, key: String, listed: ListedObject?, spoolKey: [UInt8]
    ) async throws -> Bool {
        var generation = listed?.generation ?? 0
        while true {
            do {
                try await upload(item, key: key, generation: generation, spoolKey: spoolKey)
                return true
            } catch let error as ObjectStoreError where error.code == .preconditionFailed && generation == 0 {
                let existing: GCSObject
                do {
                    existing = try await client.object(name: key)
                } catch let error as ObjectStoreError where error.code == .accessDenied {
                    return false
                }
                let found = ListedObject(
                    bytes: existing.bytes, sha256: existing.metadata[RelayDelivery.sha256Metadata],
                    generation: existing.generation.flatMap { Int64($0) })
                if found.holds(item) { return false }
                guard let replace = found.generation, replace != 0 else { throw error }
                generation = replace
            }
        }
    }

    private func upload(
        _ item: DirectDelivery.Item, key: String, generation: Int64, spoolKey: [UInt8]
    ) async throws {
        try await RelayDelivery.uploadVerified(
            item, spoolKey: spoolKey, removing: { try await client.delete(name: key) }
        ) {
            read in
            try await client.upload(
                name: key, size: item.file.bytes, metadata: [RelayDelivery.sha256Metadata: item.file.sha256],
                kmsKeyName: target.kmsKeyName, ifGenerationMatch: generation,
                session: sessionStore(key: key, generation: generation, sha256: item.file.sha256, spoolKey: spoolKey),
                read: read)
        }
    }

    /// The session of one upload: a sealed file named by the object, its precondition and its content, so a
    /// session is only ever continued for the same bytes under the same precondition.
    func sessionStore(key: String, generation: Int64, sha256: String, spoolKey: [UInt8]) -> GCSSessionStore? {
        guard let sessions else { return nil }
        let path = sessions + "/" + Hex.encode(SHA256.hash(data: Array("\(key)\n\(generation)\n\(sha256)".utf8)))
        return GCSSessionStore(
            load: {
                (try? SealedFile.readAll(path: path, key: spoolKey, limit: 64 * 1024)).map {
                    String(decoding: $0, as: UTF8.self)
                }
            },
            save: { session in
                try? FileManager.default.createDirectory(
                    atPath: sessions, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try? FileManager.default.removeItem(atPath: path)
                try? SealedFile.write(Array(session.utf8), to: path, key: spoolKey)
            },
            clear: { try? FileManager.default.removeItem(atPath: path) })
    }
}

/// An Azure Blob Storage container. Listings carry the metadata; a blob of other bytes is overwritten (Storage
/// Blob Data Contributor may); a large file goes in blocks whose ids derive from its SHA-256, so a delivery resumed
/// after a restart sends only the blocks the service does not already hold uncommitted.
struct AzureRelayBucket: RelayBucket {
    let client: AzureBlobClient
    let target: RelayTarget

    func present(prefix: String) async throws -> [String: ListedObject] {
        var found: [String: ListedObject] = [:]
        try await client.listBlobs(prefix: prefix) { blob in
            found[blob.name] = ListedObject(bytes: blob.bytes, sha256: blob.metadata[RelayDelivery.sha256Metadata])
        }
        return found
    }

    func holds(_ item: DirectDelivery.Item, key: String, listed: ListedObject?) async throws -> Bool {
        listed?.holds(item) ?? false
    }

    func put(
        _ item: DirectDelivery.Item, key: String, listed: ListedObject?, spoolKey: [UInt8]
    ) async throws -> Bool {
        try await RelayDelivery.uploadVerified(
            item, spoolKey: spoolKey, removing: { try await client.delete(name: key) }
        ) {
            read in
            try await client.upload(
                name: key, size: item.file.bytes, contentId: item.file.sha256,
                metadata: [RelayDelivery.sha256Metadata: item.file.sha256], read: read)
        }
        return true
    }

    /// A listing of the prefix: the identity gets a token and may read the container (writing is not tested:
    /// nothing is written).
    func check(prefix: String) async throws -> String {
        try await client.listBlobs(prefix: prefix) { _ in }
        let how = client.usesSharedKey ? "with the account key" : "with an Entra ID token"
        return "reachable and listable \(how) (write permission is not tested: nothing is written)"
    }
}

/// A local folder standing in for a bucket (`endpoint: file:///path`): `<root>/<bucket>/<key>`.
struct FolderRelayBucket: RelayBucket {
    let target: RelayTarget

    func present(prefix: String) async throws -> [String: ListedObject] { [:] }

    func holds(_ item: DirectDelivery.Item, key: String, listed: ListedObject?) async throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: try folderPath(key)) else { return false }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let data = try? handle.read(upToCount: 1024 * 1024), !data.isEmpty { hasher.update(data: data) }
        return Hex.encode(hasher.finalize()) == item.file.sha256
    }

    func put(
        _ item: DirectDelivery.Item, key: String, listed: ListedObject?, spoolKey: [UInt8]
    ) async throws -> Bool {
        try writeToFolder(item, key: key, spoolKey: spoolKey)
        return true
    }

    func check(prefix: String) async throws -> String {
        let root = String(target.endpoint!.dropFirst("file://".count))
        guard FileManager.default.isWritableFile(atPath: root) else {
            throw ObjectStoreError(.file, "the relay folder \(root) is not writable")
        }
        return "the folder \(root) is writable"
    }

    /// Where a local-folder relay target keeps `objectKey`: `<root>/<bucket>/<key>`, refusing keys and buckets that
    /// would lead out of it.
    private func folderPath(_ objectKey: String) throws -> String {
        let segments = objectKey.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }), !target.bucket.contains("/"),
            !target.bucket.isEmpty, target.bucket != "..", target.bucket != "."
        else {
            throw AgentError(.delivery, "the relay object key \(objectKey) is not a safe relative path")
        }
        return String(target.endpoint!.dropFirst("file://".count)) + "/" + target.bucket + "/" + objectKey
    }

    /// A local-folder relay target: `<root>/<bucket>/<key>`, written under a temporary name and renamed.
    private func writeToFolder(_ item: DirectDelivery.Item, key objectKey: String, spoolKey: [UInt8]) throws {
        let path = try folderPath(objectKey)
        let directory = String(path[..<path.lastIndex(of: "/")!])
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            let temporary = path + ".tmp"
            _ = FileManager.default.createFile(
                atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o640])
            guard let handle = FileHandle(forWritingAtPath: temporary) else {
                throw AgentError(.delivery, "cannot write \(temporary)")
            }
            try SealedFile.read(path: item.localPath, key: spoolKey) { segment in
                try handle.write(contentsOf: segment)
            }
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.delivery, "cannot write the relay file \(path): \(error)")
        }
    }
}
