internal import Foundation
internal import Logging
internal import Metadata
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
        var objects: [CompleteRequest.RelayObjects.Object] = []
        for item in items {
            let objectKey = Self.objectKey(
                prefix: target.prefix, connectionId: connectionId, runId: runId, file: item.file.path)
            try await put(item, key: objectKey)
            objects.append(.init(key: objectKey, bytes: item.file.bytes, sha256: item.file.sha256))
        }
        let manifestKey = Self.objectKey(
            prefix: target.prefix, connectionId: connectionId, runId: runId, file: MetadataFormat.manifestFileName)
        return CompleteRequest.RelayObjects(bucket: target.bucket, manifestKey: manifestKey, objects: objects)
    }

    private func put(_ item: DirectDelivery.Item, key objectKey: String) async throws {
        if let endpoint = target.endpoint, endpoint.hasPrefix("file://") {
            try writeToFolder(item, root: String(endpoint.dropFirst("file://".count)), key: objectKey)
            return
        }
        throw AgentError(.delivery, "bucket relay to S3 is not configured in this build")
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
