internal import AWSSigV4
internal import Foundation
internal import Logging
internal import Metadata
internal import ObjectStore
internal import OutpostProtocol

/// Bucket relay: writes the run's files and manifest into the organisation's own bucket (S3 API) or, for an
/// endpoint `file:///path`, into a local folder, then reports the object keys and checksums.
///
/// Keys are `<prefix><connection id>/<run id>/<file>`. The manifest goes last, so whoever reads the bucket
/// sees a manifest only when every file it names is there.
struct RelayDelivery: Sendable {
    let target: RelayTarget
    let network: OutboundNetwork
    let policy: AgentConfiguration.Policy
    let environment: [String: String]
    let controlPlaneHost: String
    let folder: String
    let key: [UInt8]
    let logger: Logger

    /// The object key of one file of a run.
    static func objectKey(prefix: String, connectionId: String, runId: String, file: String) -> String {
        prefix + connectionId + "/" + runId + "/" + file
    }

    func deliver(runId: String, connectionId: String) async throws -> CompleteRequest.RelayObjects {
        let items = try DirectDelivery.items(folder: folder, key: key)
        let bucket = try bucketClient()
        var objects: [CompleteRequest.RelayObjects.Object] = []
        for item in items {
            let objectKey = Self.objectKey(
                prefix: target.prefix, connectionId: connectionId, runId: runId, file: item.file.path)
            try await put(item, key: objectKey, bucket: bucket)
            objects.append(.init(key: objectKey, bytes: item.file.bytes, sha256: item.file.sha256))
        }
        let manifestKey = Self.objectKey(
            prefix: target.prefix, connectionId: connectionId, runId: runId, file: MetadataFormat.manifestFileName)
        return CompleteRequest.RelayObjects(bucket: target.bucket, manifestKey: manifestKey, objects: objects)
    }

    private func put(_ item: DirectDelivery.Item, key objectKey: String, bucket: S3Client?) async throws {
        guard let bucket else {
            try writeToFolder(item, root: String(target.endpoint!.dropFirst("file://".count)), key: objectKey)
            return
        }
        let reader = try SealedPartReader(path: item.localPath, key: key)
        do {
            let result = try await bucket.upload(
                key: objectKey, size: item.file.bytes, serverSideEncryption: try ServerSideEncryption(relay: target)
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

    /// A local-folder relay target: `<root>/<bucket>/<key>`, written under a temporary name and renamed.
    private func writeToFolder(_ item: DirectDelivery.Item, root: String, key objectKey: String) throws {
        let segments = objectKey.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }), !target.bucket.contains("/"),
            !target.bucket.isEmpty, target.bucket != "..", target.bucket != "."
        else {
            throw AgentError(.delivery, "the relay object key \(objectKey) is not a safe relative path")
        }
        let path = root + "/" + target.bucket + "/" + objectKey
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
