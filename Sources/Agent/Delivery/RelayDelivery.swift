internal import AWSSigV4
internal import Crypto
internal import Foundation
internal import Logging
internal import Metadata
internal import ObjectStore
internal import OutpostProtocol
internal import Relay

/// Bucket relay: writes the run's files and manifest into the organisation's own bucket (S3 API) or, for an
/// endpoint `file:///path`, into a local folder, then reports the object keys and checksums.
///
/// Keys are `<prefix>/<connection id>/<run id>/<file>` (`S3Client.relayRunPrefix`, which the control plane checks
/// them against). The manifest goes last, so whoever reads the bucket sees a manifest only when every file it names
/// is there. A delivery that is resumed (after an agent restart, or a retry after the bucket was unreachable)
/// sends only the files not already in the bucket with their size and SHA-256: each object carries its SHA-256 as
/// user metadata (`x-amz-meta-outpost-sha256`), since S3's entity tag is not a content hash for multipart or
/// KMS-encrypted objects.
struct RelayDelivery: Sendable {
    /// The user-metadata name of an object's SHA-256 (lower-case hex of the plaintext, as in the manifest).
    static let sha256Metadata = "outpost-sha256"

    let target: RelayTarget
    let network: OutboundNetwork
    let policy: AgentConfiguration.Policy
    let environment: [String: String]
    let controlPlaneHost: String
    let folder: String
    let key: [UInt8]
    let logger: Logger

    /// The object key of one file of a run.
    static func objectKey(_ target: RelayTarget, connectionId: String, runId: String, file: String) -> String {
        S3Client.relayRunPrefix(target, connectionId: connectionId, runId: runId) + file
    }

    func deliver(runId: String, connectionId: String) async throws -> CompleteRequest.RelayObjects {
        let items = try DirectDelivery.items(folder: folder, key: key)
        let bucket = try bucketClient()
        let present = try await presentObjects(
            prefix: S3Client.relayRunPrefix(target, connectionId: connectionId, runId: runId), bucket: bucket)
        var objects: [CompleteRequest.RelayObjects.Object] = []
        var sent = 0
        for item in items {
            let objectKey = Self.objectKey(target, connectionId: connectionId, runId: runId, file: item.file.path)
            var kept = false
            if bucket == nil || present[objectKey] == item.file.bytes {
                kept = try await holds(item, key: objectKey, bucket: bucket)
            }
            if !kept {
                try await put(item, key: objectKey, bucket: bucket)
                sent += 1
            }
            objects.append(.init(key: objectKey, bytes: item.file.bytes, sha256: item.file.sha256))
        }
        logger.info(
            "delivery.relayed",
            metadata: [
                "delivery.files": "\(items.count)", "delivery.sent": "\(sent)",
                "delivery.kept": "\(items.count - sent)",
            ])
        let manifestKey = Self.objectKey(
            target, connectionId: connectionId, runId: runId, file: MetadataFormat.manifestFileName)
        return CompleteRequest.RelayObjects(bucket: target.bucket, manifestKey: manifestKey, objects: objects)
    }

    /// The run's objects already in the bucket, by key, with their sizes: one listing of the run's prefix (empty on
    /// a first delivery). Empty too when the agent may not list the bucket (then everything is sent, as before) and
    /// for a local folder (where `holds` looks at each file).
    private func presentObjects(prefix: String, bucket: S3Client?) async throws -> [String: Int64] {
        guard let bucket else { return [:] }
        var sizes: [String: Int64] = [:]
        do {
            for try await object in bucket.listObjects(prefix: prefix) { sizes[object.key] = object.bytes }
        } catch let error as ObjectStoreError where error.isRetryable {
            throw AgentError(
                .unavailable, "listing s3://\(target.bucket)/\(prefix) failed: \(error)")
        } catch {
            logger.debug("delivery.relay_listing_refused", metadata: ["error": "\(error)"])
            return [:]
        }
        return sizes
    }

    /// Whether the bucket already holds `item` whole under `objectKey`: same size and SHA-256 (recorded as user
    /// metadata when the agent wrote it). An object the agent may not read is sent again.
    private func holds(_ item: DirectDelivery.Item, key objectKey: String, bucket: S3Client?) async throws -> Bool {
        guard let bucket else {
            guard let handle = FileHandle(forReadingAtPath: try folderPath(objectKey)) else { return false }
            defer { try? handle.close() }
            var hasher = SHA256()
            while let data = try? handle.read(upToCount: 1024 * 1024), !data.isEmpty { hasher.update(data: data) }
            return Hex.encode(hasher.finalize()) == item.file.sha256
        }
        do {
            let info = try await bucket.headObject(key: objectKey)
            return info.bytes == item.file.bytes && info.metadata[Self.sha256Metadata] == item.file.sha256
        } catch let error as ObjectStoreError where error.isRetryable {
            throw AgentError(.unavailable, "checking s3://\(target.bucket)/\(objectKey) failed: \(error)")
        } catch {
            return false
        }
    }

    private func put(_ item: DirectDelivery.Item, key objectKey: String, bucket: S3Client?) async throws {
        guard let bucket else {
            try writeToFolder(item, key: objectKey)
            return
        }
        let reader = try SealedPartReader(path: item.localPath, key: key)
        do {
            let result = try await bucket.upload(
                key: objectKey, size: item.file.bytes, serverSideEncryption: try ServerSideEncryption(relay: target),
                metadata: [Self.sha256Metadata: item.file.sha256]
            ) { count in try reader.read(upTo: count) }
            guard result.sha256 == item.file.sha256 else {
                throw AgentError(.delivery, "\(item.file.path) changed in the spool while it was uploaded")
            }
        } catch let error as ObjectStoreError {
            throw AgentError(
                error.isRetryable ? .unavailable : .delivery,
                "writing \(item.file.path) to s3://\(target.bucket)/\(objectKey) failed: \(error)")
        }
    }

    /// The S3 client for the relay bucket, after checking the local policy allows its endpoint; nil for a
    /// `file://` target.
    private func bucketClient() throws -> S3Client? {
        if let endpoint = target.endpoint, endpoint.hasPrefix("file://") { return nil }
        let aws = AWSEnvironment(environment)
        guard let credentials = aws.credentialSource(region: target.region) else {
            throw AgentError(
                .delivery,
                "no AWS credentials for the relay bucket \(target.bucket): \(AWSEnvironment.missingCredentialsAdvice)")
        }
        let configuration = S3Configuration(relay: target, credentials: credentials)
        let probe: S3Client
        do {
            probe = try S3Client(bucket: target.bucket, configuration: configuration)
        } catch {
            throw AgentError(.delivery, "the relay bucket is not usable: \(error)")
        }
        let url = probe.url(forKey: "probe")
        guard let components = URLComponents(string: url), let host = components.plainHost else {
            throw AgentError(.delivery, "the relay endpoint \(configuration.resolvedEndpoint) is not a URL")
        }
        let port = components.port ?? (components.scheme == "http" ? 80 : 443)
        let policy = try EgressPolicy(allowedHosts: self.policy.allowedHosts, allowedSources: [])
        let decision = policy.checkHost(host: host, port: port)
        guard decision.allowed else {
            throw AgentError(
                .policyDenied,
                "the relay bucket's endpoint \(host):\(port) is refused by the agent's local policy "
                    + "(add it to policy.allowedHosts): \(decision.reason)")
        }
        return try S3Client(
            bucket: target.bucket, configuration: configuration, httpClient: network.client(forURL: url))
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
    private func writeToFolder(_ item: DirectDelivery.Item, key objectKey: String) throws {
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
            try SealedFile.read(path: item.localPath, key: key) { segment in
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
