public import ControlPlaneStorage
internal import Foundation
public import Logging
internal import Metadata
internal import OutpostProtocol
public import ServiceLifecycle

/// Removes, once a run has ended, every object of its direct delivery that is not part of the delivery it ended
/// with: files uploaded outside the manifest, and all of a failed or cancelled run's uploads. What a run was granted
/// is recorded (`UploadGrantRepository`), so every object a client could have put is known, in the local blob store
/// and in S3 alike. Runs at start-up and then every `interval`; safe on every replica (removing an object twice is
/// harmless).
public struct DeliveryJanitor<Store: ControlPlaneStore, Blobs: BlobStore>: Service {
    let store: Store
    let blobs: Blobs
    let interval: Duration
    let logger: Logger

    public init(store: Store, blobs: Blobs, interval: Duration, logger: Logger) {
        self.store = store
        self.blobs = blobs
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await tidyOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass over up to 100 ended runs; returns how many objects were removed.
    @discardableResult
    public func tidyOnce() async -> Int {
        var removed = 0
        do {
            for run in try await store.finishedRunsWithUploadGrants(limit: 100) {
                removed += try await tidy(run)
            }
        } catch {
            logger.warning(
                "delivery.tidy_failed", metadata: ["error.description": .string(String(describing: error))])
        }
        return removed
    }

    /// Removes the run's objects that are not part of its accepted delivery, then forgets its grants.
    private func tidy(_ run: RunRecord) async throws -> Int {
        let granted = try await store.uploadGrantPaths(tenantId: run.tenantId, runId: run.id)
        let kept: Set<String>
        switch run.status {
        case .succeeded, .partial, .superseded:
            // The delivery was verified: the manifest and the files it lists stay (the run page shows them).
            guard let manifest = try await manifest(of: run) else {
                logger.warning("delivery.manifest_unreadable", metadata: ["run.id": .string(run.id)])
                try await store.clearUploadGrants(tenantId: run.tenantId, runId: run.id)
                return 0
            }
            kept = Set(manifest.files.map(\.path) + [MetadataFormat.manifestFileName])
        default:
            kept = []
        }
        var removed = 0
        for path in granted where !kept.contains(path) {
            let key = DeliveryBlobKey.make(tenantId: run.tenantId, runId: run.id, file: path)
            if try await blobs.exists(key: key) {
                try await blobs.delete(key: key)
                removed += 1
            }
        }
        try await store.clearUploadGrants(tenantId: run.tenantId, runId: run.id)
        if removed > 0 {
            logger.info(
                "delivery.tidied",
                metadata: [
                    "run.id": .string(run.id), "run.status": .string(run.status.rawValue),
                    "blob.removed": .stringConvertible(removed),
                ])
        }
        return removed
    }

    private func manifest(of run: RunRecord) async throws -> Manifest? {
        var bytes: [UInt8] = []
        do {
            try await blobs.read(
                key: DeliveryBlobKey.make(tenantId: run.tenantId, runId: run.id, file: MetadataFormat.manifestFileName)
            ) { piece in
                bytes += piece
                guard bytes.count <= 64 * 1024 * 1024 else { throw BlobError(.corrupt, "manifest.json is too large") }
            }
        } catch let error as BlobError where error.code == .notFound {
            return nil
        }
        return try? JSONDecoder().decode(Manifest.self, from: Data(bytes))
    }
}
