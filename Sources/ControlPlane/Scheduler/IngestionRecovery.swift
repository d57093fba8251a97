public import ControlPlaneStorage
public import Logging
import OutpostProtocol
public import ServiceLifecycle

/// Finds runs a stopped server left `ingesting` and ingests them again (or fails them once they were interrupted
/// too often, or cancels them when a cancellation is pending), at start-up and then every `interval`.
///
/// The server ingesting a run holds its lease and renews it every quarter of its length, so an `ingesting` run whose
/// lease expired has nobody working on it: its server crashed or was killed. The store hands each such run to one
/// replica with a new lease id, which fences off the stopped server should it come back; the delivery's files are
/// still in the blob store, ingestion clears its staging first, and publishing is ordered by run, so ingesting
/// again is safe and never brings back an older snapshot. A store that is the database's only user
/// (`ControlPlaneStore.ingestionsAreOrphanedAtStart`) takes every ingesting run over at start without waiting for
/// leases that only a dead process held.
public struct IngestionRecovery: Service {
    let store: any CatalogRepository & RunRepository
    let ingestion: IngestionQueue
    let clock: WallClock
    let interval: Duration
    let holdSeconds: Int
    let maximumRecoveries: Int
    let orphanedAtStart: Bool
    let logger: Logger

    /// - Parameters:
    ///   - holdSeconds: the lease a recovered run gets; the ingestion queue renews it from then on.
    ///   - maximumRecoveries: how often one run is ingested again before it fails.
    ///   - orphanedAtStart: whether every run found ingesting by the first pass was left by a stopped process.
    public init(
        store: any CatalogRepository & RunRepository, ingestion: IngestionQueue, clock: WallClock, interval: Duration,
        holdSeconds: Int, maximumRecoveries: Int = 2, orphanedAtStart: Bool = false, logger: Logger
    ) {
        self.store = store
        self.ingestion = ingestion
        self.clock = clock
        self.interval = interval
        self.holdSeconds = holdSeconds
        self.maximumRecoveries = maximumRecoveries
        self.orphanedAtStart = orphanedAtStart
        self.logger = logger
    }

    public func run() async throws {
        var everyLeaseExpired = orphanedAtStart
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await recoverOnce(everyLeaseExpired: everyLeaseExpired)
            everyLeaseExpired = false
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass: takes over what it can and queues it for ingestion; returns the runs queued again. With
    /// `everyLeaseExpired`, runs whose lease has not run out yet count as abandoned too (a sole store at start).
    @discardableResult
    public func recoverOnce(everyLeaseExpired: Bool = false) async -> [RunRecord] {
        // Nothing is taken over while this server is stopping: it could not ingest it.
        guard ingestion.isAccepting else { return [] }
        let now = clock.now
        do {
            let changed = try await store.recoverIngestions(
                now: now, expiredBefore: everyLeaseExpired ? Timestamp(milliseconds: .max) : now,
                holdSeconds: holdSeconds, maximumRecoveries: maximumRecoveries, limit: 100)
            var recovered: [RunRecord] = []
            for run in changed {
                guard run.status == .ingesting else {
                    // Cancelled, or out of recoveries: what its stopped server staged goes now.
                    logger.notice(
                        "ingestion.ended_unrecovered",
                        metadata: ["run.id": .string(run.id), "run.status": .string(run.status.rawValue)])
                    await store.clearStagingOrLog(tenantId: run.tenantId, runId: run.id, logger: logger)
                    continue
                }
                logger.notice(
                    "ingestion.recovered",
                    metadata: ["run.id": .string(run.id), "lease.id": .stringConvertible(run.leaseId)])
                await ingestion.submit(IngestionJob(tenantId: run.tenantId, runId: run.id, leaseId: run.leaseId))
                recovered.append(run)
            }
            return recovered
        } catch {
            logger.warning(
                "ingestion.recovery_failed", metadata: ["error.description": .string(String(describing: error))])
            return []
        }
    }
}
