/// Read-only access to the files of one delivery, by the names the manifest uses (`manifest.json`,
/// `records-00001.jsonl.gz`).
///
/// The `Ingestor` verifies whatever a source yields against the manifest, so a source only locates and streams
/// bytes: the blob store for direct ingestion, the customer's bucket for relay. Sources signal a missing file with
/// `BlobError.notFound` and any other read failure with another `BlobError`, whose message names the object and
/// never a credential.
public protocol DeliverySource: Sendable {
    /// Streams the file's bytes in pieces, in order.
    func read(file: String, _ body: ([UInt8]) async throws -> Void) async throws
}

/// A direct delivery: the files the agent uploaded to the server's blob store under `<tenant>/<run>/`.
public struct BlobDeliverySource<Blobs: BlobStore>: DeliverySource {
    /// The server's blob store.
    public let blobs: Blobs
    /// The tenant that owns the run.
    public let tenantId: String
    /// The run whose files these are.
    public let runId: String

    /// A source over one run's uploaded files.
    public init(blobs: Blobs, tenantId: String, runId: String) {
        self.blobs = blobs
        self.tenantId = tenantId
        self.runId = runId
    }

    public func read(file: String, _ body: ([UInt8]) async throws -> Void) async throws {
        try await blobs.read(key: DeliveryBlobKey.make(tenantId: tenantId, runId: runId, file: file), body)
    }
}

/// Where a direct delivery's files sit in the blob store, whichever store it is.
public enum DeliveryBlobKey {
    /// `<tenant>/<run>/<file>`.
    public static func make(tenantId: String, runId: String, file: String) -> String {
        "\(tenantId)/\(runId)/\(file)"
    }
}
