import ControlPlaneStorage
import Logging
import Metadata
import OutpostProtocol

/// Ingests a completed run's delivery (direct from the blob store, relay from the customer's bucket) and moves the
/// run from `ingesting` to its outcome: `succeeded`, `partial` (the manifest says some schemas were incomplete),
/// `superseded` (a newer run of the connection published first), `cancelled`, or `failed` with the reason.
///
/// The server holds the run's lease from `complete` until the outcome is written, renewing it every quarter of
/// `leaseSeconds` (while the job waits in the queue, too), so a server that dies leaves a lease that runs out in
/// about a minute and another replica, or the restarted server, takes the run over. A renewal that finds the lease
/// taken stops the ingestion; one that finds a cancellation pending stops it and records `cancelled`.
struct RunIngestion<Store: ControlPlaneStore, Blobs: BlobStore>: IngestionWorker {
    let store: Store
    let ingestor: Ingestor<Store, Blobs>
    let clock: WallClock
    /// The longest one ingestion may take.
    let timeout: Duration
    /// The lease each renewal extends to.
    let leaseSeconds: Int
    let logger: Logger
    /// The server's read access to relay buckets; nil when it has none, and relay deliveries then fail saying so.
    let relayReader: RelayReader?

    init(
        store: Store, blobs: Blobs, clock: WallClock, timeout: Duration, leaseSeconds: Int, logger: Logger,
        relayReader: RelayReader? = nil
    ) {
        self.store = store
        self.relayReader = relayReader
        self.ingestor = Ingestor(catalog: store, blobs: blobs, logger: logger)
        self.clock = clock
        self.timeout = timeout
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// How often the lease is renewed.
    var renewalInterval: Duration { .milliseconds(max(1, leaseSeconds) * 250) }

    /// Why an ingestion stopped before it finished.
    private enum Interruption: Error {
        /// Another server holds the run now (this one was presumed dead): nothing may be recorded.
        case leaseLost
        case cancelled(reason: String?)
    }

    func ingest(_ job: IngestionJob) async {
        let outcome: (RunRecord.Status, String?)
        var changes: PublishSummary?
        do {
            guard let run = try await store.run(tenantId: job.tenantId, id: job.runId), run.status == .ingesting,
                run.leaseId == job.leaseId
            else { return }
            if run.cancelRequested {
                outcome = (.cancelled, run.cancelReason)
            } else if let connection = try await store.connection(tenantId: job.tenantId, id: run.connectionId) {
                let result = try await whileHoldingLease(job) {
                    try await ingestWithTimeout(job: job, connection: connection)
                }
                outcome = (result.manifest.status == .partial ? .partial : .succeeded, nil)
                changes = result.summary
            } else {
                outcome = (.failed, "the connection was deleted before its delivery was ingested")
            }
        } catch Interruption.leaseLost {
            // The run was taken over (this server missed its renewals, e.g. it was paused): the new holder ingests
            // it, with the staging it starts over, and records the outcome.
            logger.warning("ingestion.lease_lost", metadata: ["run.id": .string(job.runId)])
            return
        } catch Interruption.cancelled(let reason) {
            outcome = (.cancelled, reason)
        } catch let error as IngestionError {
            outcome = (.failed, String(error.message.prefix(4000)))
        } catch let error as StorageError where error.code == .superseded {
            outcome = (
                .superseded,
                "a newer run of this connection was published first, so this older delivery was not published over it"
            )
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
        await record(job, status: outcome.0, error: outcome.1, changes: changes)
        // The staging is no longer needed once the outcome is recorded; a server stopped before this line leaves
        // it to `clearAbandonedStaging` at its next start.
        await store.clearStagingOrLog(tenantId: job.tenantId, runId: job.runId, logger: logger)
    }

    func abandon(_ job: IngestionJob) async {
        await record(
            job, status: .failed,
            error: "the control plane stopped before ingesting this delivery; run the connection again")
    }

    /// Renews the lease of a job waiting in the queue. A cancellation pending ends the run here and now (it would
    /// otherwise wait for its turn only to be cancelled); false when the job is no longer this server's to run.
    func renewWaiting(_ job: IngestionJob) async -> Bool {
        switch await renew(job) {
        case .held:
            return true
        case .lost:
            return false
        case .cancelRequested(let reason):
            await record(job, status: .cancelled, error: reason)
            await store.clearStagingOrLog(tenantId: job.tenantId, runId: job.runId, logger: logger)
            return false
        }
    }

    private enum Renewal {
        case held
        case lost
        case cancelRequested(reason: String?)
    }

    /// Extends the lease to `leaseSeconds` from now if this server still holds it on an ingesting run.
    private func renew(_ job: IngestionJob) async -> Renewal {
        let now = clock.now
        let until = now.adding(seconds: leaseSeconds)
        do {
            let run = try await store.updateLeased(
                tenantId: job.tenantId, runId: job.runId, leaseId: job.leaseId, now: now
            ) { run in
                guard run.status == .ingesting else { return }
                run.leaseExpiresAt = until
            }
            guard let run, run.status == .ingesting else { return .lost }
            return run.cancelRequested ? .cancelRequested(reason: run.cancelReason) : .held
        } catch {
            // The database is unreachable: keep going; if it stays so, the lease runs out and the next renewal
            // finds it lost (or the outcome cannot be written either).
            logger.warning(
                "ingestion.lease_renewal_failed",
                metadata: ["run.id": .string(job.runId), "error.description": .string(String(describing: error))])
            return .held
        }
    }

    /// Runs `body` while a child task renews the job's lease; a renewal that finds the lease lost or a
    /// cancellation pending cancels `body` and throws `Interruption`.
    private func whileHoldingLease<Value: Sendable>(
        _ job: IngestionJob, _ body: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let interval = renewalInterval
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    try await Task.sleep(for: interval)
                    switch await self.renew(job) {
                    case .held: continue
                    case .lost: throw Interruption.leaseLost
                    case .cancelRequested(let reason): throw Interruption.cancelled(reason: reason)
                    }
                }
            }
            defer { group.cancelAll() }
            while let finished = try await group.next() {
                if let value = finished { return value }
            }
            throw CancellationError()
        }
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
    private func record(
        _ job: IngestionJob, status: RunRecord.Status, error: String?, changes: PublishSummary? = nil
    ) async {
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
                run.catalogChanges = changes
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
