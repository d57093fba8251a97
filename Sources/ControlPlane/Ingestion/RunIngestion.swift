import Logging
import Metadata
import OutpostProtocol

/// Ingests a completed run's delivery (direct from the blob store, relay from the customer's bucket) and moves the
/// run from `ingesting` to its outcome: `succeeded`, `partial` (the manifest says some schemas were incomplete) or
/// `failed` with the reason.
///
/// The outcome is written through the run's lease, which the server holds from `complete` until here, so it
/// lands only while the run is still the one this job was queued for.
struct RunIngestion<Store: ControlPlaneStore, Blobs: BlobStore>: IngestionWorker {
    let store: Store
    let ingestor: Ingestor<Store, Blobs>
    let clock: WallClock
    /// The longest one ingestion may take; shorter than the lease the server holds, so the outcome can always be
    /// written.
    let timeout: Duration
    let logger: Logger
    /// The server's read access to relay buckets; nil when it has none, and relay deliveries then fail saying so.
    let relayReader: RelayReader?

    init(
        store: Store, blobs: Blobs, clock: WallClock, timeout: Duration, logger: Logger,
        relayReader: RelayReader? = nil
    ) {
        self.store = store
        self.relayReader = relayReader
        self.ingestor = Ingestor(catalog: store, blobs: blobs, logger: logger)
        self.clock = clock
        self.timeout = timeout
        self.logger = logger
    }

    func ingest(_ job: IngestionJob) async {
        let outcome: (RunRecord.Status, String?)
        do {
            guard let run = try await store.run(tenantId: job.tenantId, id: job.runId), run.status == .ingesting,
                run.leaseId == job.leaseId
            else { return }
            if run.cancelRequested {
                outcome = (.cancelled, run.cancelReason)
            } else if let connection = try await store.connection(tenantId: job.tenantId, id: run.connectionId) {
                let result = try await ingestWithTimeout(job: job, connection: connection)
                outcome = (result.manifest.status == .partial ? .partial : .succeeded, nil)
            } else {
                outcome = (.failed, "the connection was deleted before its delivery was ingested")
            }
        } catch let error as IngestionError {
            outcome = (.failed, String(error.message.prefix(4000)))
        } catch let error as StorageError where error.code == .conflict {
            // The staging area refuses an asset delivered twice: the delivery is at fault, not the server.
            outcome = (.failed, "the delivery is invalid: \(error.message)")
        } catch let error as BlobError {
            // Blob-store messages name the object and never key material.
            outcome = (.failed, "the delivery could not be read: \(error.message)")
        } catch is CancellationError {
            outcome = (.failed, "the control plane stopped while ingesting this delivery; run the connection again")
        } catch {
            logger.error(
                "ingestion.failed",
                metadata: ["run.id": .string(job.runId), "error.description": .string(String(describing: error))])
            outcome = (.failed, "the control plane could not ingest the delivery (an internal error, logged there)")
        }
        await record(job, status: outcome.0, error: outcome.1)
        // The staging is no longer needed once the outcome is recorded; a server stopped before this line leaves
        // it to `clearAbandonedStaging` at its next start.
        do {
            try await store.clearStaging(tenantId: job.tenantId, runId: job.runId)
        } catch {
            logger.warning(
                "ingestion.staging_not_cleared",
                metadata: ["run.id": .string(job.runId), "error.description": .string(String(describing: error))])
        }
    }

    func abandon(_ job: IngestionJob) async {
        await record(
            job, status: .failed,
            error: "the control plane stopped before ingesting this delivery; run the connection again")
    }

    /// Races the ingestion against `timeout`; the loser is cancelled.
    private func ingestWithTimeout(
        job: IngestionJob, connection: ConnectionRecord
    ) async throws -> Ingestor<Store, Blobs>.Result {
        let ingestor = self.ingestor
        let clock = self.clock
        let timeout = self.timeout
        let relay = try job.relay.map { try self.relaySource(for: $0, connection: connection) }
        return try await withThrowingTaskGroup(of: Ingestor<Store, Blobs>.Result?.self) { group in
            group.addTask {
                if let relay {
                    return try await ingestor.ingest(
                        from: relay, tenantId: job.tenantId, runId: job.runId, connectionId: connection.id,
                        connectionName: connection.name, now: clock.now)
                }
                return try await ingestor.ingest(
                    tenantId: job.tenantId, runId: job.runId, connectionId: connection.id,
                    connectionName: connection.name, now: clock.now)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let result = try await group.next() ?? nil else {
                throw IngestionError("ingestion took longer than \(timeout); the delivery was not published")
            }
            return result
        }
    }

    /// The reader of a relay delivery, if the connection still relays into the bucket the agent reported.
    private func relaySource(
        for objects: CompleteRequest.RelayObjects, connection: ConnectionRecord
    ) throws -> RelayDeliverySource {
        guard connection.delivery.mode == .relay, let target = connection.delivery.relay,
            target.bucket == objects.bucket
        else {
            throw IngestionError(
                "the connection's delivery changed before its relay delivery was ingested; run the connection again")
        }
        guard let relayReader else {
            throw IngestionError(
                "this control plane is not configured to read relay buckets; deliver directly or ask its operator")
        }
        return try relayReader.source(target: target, objects: objects)
    }

    /// Writes the outcome while the server still holds the run's lease and the run is still ingesting.
    private func record(_ job: IngestionJob, status: RunRecord.Status, error: String?) async {
        let now = clock.now
        do {
            let updated = try await store.updateLeased(
                tenantId: job.tenantId, runId: job.runId, leaseId: job.leaseId, now: now
            ) { run in
                guard run.status == .ingesting else { return }
                run.status = status
                run.error = error
                run.finishedAt = now
                run.leaseExpiresAt = nil
            }
            guard updated?.status == status else {
                logger.warning("ingestion.outcome_not_recorded", metadata: ["run.id": .string(job.runId)])
                return
            }
            logger.info(
                "ingestion.finished", metadata: ["run.id": .string(job.runId), "run.status": .string(status.rawValue)])
        } catch {
            logger.error(
                "ingestion.outcome_failed",
                metadata: ["run.id": .string(job.runId), "error.description": .string(String(describing: error))])
        }
    }
}
