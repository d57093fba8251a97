public import Logging
public import ServiceLifecycle

/// Finds runs a stopped server left `ingesting` and ingests them again (or fails them once they were interrupted
/// too often), at start-up and then every `interval`.
///
/// The server that accepts a `complete` holds the run's lease for the longest an ingestion may take plus a
/// margin, so an `ingesting` run whose lease expired has nobody working on it: its server crashed or was killed.
/// The store hands each such run to one replica with a new lease id, which fences off the stopped server should it
/// come back; the delivery's files are still in the blob store, and ingestion clears its staging first, so
/// ingesting again is safe.
public struct IngestionRecovery: Service {
    let store: any RunRepository
    let ingestion: IngestionQueue
    let clock: WallClock
    let interval: Duration
    let holdSeconds: Int
    let maximumRecoveries: Int
    let logger: Logger

    /// - Parameters:
    ///   - holdSeconds: the lease a recovered run gets: as long as the one `complete` gives (ingestion timeout plus
    ///     a minute), so a slow but live re-ingestion is never taken over.
    ///   - maximumRecoveries: how often one run is ingested again before it fails.
    public init(
        store: any RunRepository, ingestion: IngestionQueue, clock: WallClock, interval: Duration, holdSeconds: Int,
        maximumRecoveries: Int = 2, logger: Logger
    ) {
        self.store = store
        self.ingestion = ingestion
        self.clock = clock
        self.interval = interval
        self.holdSeconds = holdSeconds
        self.maximumRecoveries = maximumRecoveries
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await recoverOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass: takes over what it can and queues it for ingestion; returns the runs queued again.
    @discardableResult
    public func recoverOnce() async -> [RunRecord] {
        // Nothing is taken over while this server is stopping: it could not ingest it.
        guard ingestion.isAccepting else { return [] }
        do {
            let runs = try await store.recoverIngestions(
                now: clock.now, holdSeconds: holdSeconds, maximumRecoveries: maximumRecoveries, limit: 100)
            for run in runs {
                logger.notice(
                    "ingestion.recovered",
                    metadata: ["run.id": .string(run.id), "lease.id": .stringConvertible(run.leaseId)])
                await ingestion.submit(IngestionJob(tenantId: run.tenantId, runId: run.id, leaseId: run.leaseId))
            }
            return runs
        } catch {
            logger.warning(
                "ingestion.recovery_failed", metadata: ["error.description": .string(String(describing: error))])
            return []
        }
    }
}
