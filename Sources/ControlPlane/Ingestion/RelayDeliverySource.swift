internal import Crypto
internal import Metadata
internal import NIOCore
internal import ObjectStore
public import OutpostProtocol
public import Relay

/// A relay delivery: the objects the agent wrote to the customer's bucket (S3 or Cloud Storage) and reported on
/// `complete`, read with the control plane's own credentials.
///
/// Files are looked up beside the manifest (`<dir>/manifest.json` → `<dir>/<file>`) and only among the reported
/// objects. Each object is checked against the size and SHA-256 the agent reported while it streams (the
/// `Ingestor` then checks it against the manifest), so the manifest itself is verified too, and a changed or
/// truncated object fails the run before anything is published.
public struct RelayDeliverySource: DeliverySource {
    /// The client for the connection's bucket.
    public let client: any RelayBucketReader
    /// The connection's bucket, for messages.
    public let target: RelayTarget
    /// The key of `manifest.json`.
    public let manifestKey: String
    /// The reported objects by key.
    let reported: [String: CompleteRequest.RelayObjects.Object]

    /// A source over the reported objects.
    public init(client: any RelayBucketReader, target: RelayTarget, objects: CompleteRequest.RelayObjects) {
        self.client = client
        self.target = target
        self.manifestKey = objects.manifestKey
        self.reported = Dictionary(objects.objects.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The object key of a file named in the manifest.
    func key(of file: String) -> String {
        if file == MetadataFormat.manifestFileName { return manifestKey }
        return String(manifestKey.dropLast(MetadataFormat.manifestFileName.count)) + file
    }

    public func read(file: String, _ body: ([UInt8]) async throws -> Void) async throws {
        let key = self.key(of: file)
        let location = target.location(key)
        guard let expected = reported[key] else {
            throw BlobError(.notFound, "\(location) was not among the objects the agent reported")
        }
        var hasher = SHA256()
        var total: Int64 = 0
        do {
            try await client.read(key: key) { piece in
                total += Int64(piece.readableBytes)
                guard total <= expected.bytes else {
                    throw BlobError(
                        .corrupt, "\(location) is larger than the \(expected.bytes) bytes the agent reported")
                }
                let bytes = Array(piece.readableBytesView)
                hasher.update(data: bytes)
                try await body(bytes)
            }
        } catch let error as ObjectStoreError where error.isNotFound {
            throw BlobError(.notFound, "\(location) does not exist")
        } catch let error as ObjectStoreError {
            throw BlobError(.io, error.description)
        }
        guard total == expected.bytes else {
            throw BlobError(.corrupt, "\(location) holds \(total) bytes, not the \(expected.bytes) the agent reported")
        }
        guard Hex.encode(hasher.finalize()) == expected.sha256 else {
            throw BlobError(.corrupt, "\(location) does not match the SHA-256 the agent reported")
        }
    }
}
