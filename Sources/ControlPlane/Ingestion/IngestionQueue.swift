public import Logging
public import OutpostProtocol
public import ServiceLifecycle
import Synchronization

/// One delivery waiting to be ingested: the run and the lease it was completed under.
public struct IngestionJob: Sendable, Hashable {
    public var tenantId: String
    public var runId: String
    /// The lease the agent completed the run with; the server keeps holding it while it ingests, so the outcome
    /// is written only if nothing else took the run meanwhile.
    public var leaseId: Int64
    /// For bucket relay: the objects the agent reported, checked against the connection already. Nil for a direct
    /// delivery, which sits in the blob store. Not part of the job's identity: a run is queued once either way.
    public var relay: CompleteRequest.RelayObjects?

    public init(tenantId: String, runId: String, leaseId: Int64, relay: CompleteRequest.RelayObjects? = nil) {
        self.tenantId = tenantId
        self.runId = runId
        self.leaseId = leaseId
        self.relay = relay
    }

    public static func == (lhs: IngestionJob, rhs: IngestionJob) -> Bool {
        lhs.tenantId == rhs.tenantId && lhs.runId == rhs.runId && lhs.leaseId == rhs.leaseId
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(tenantId)
        hasher.combine(runId)
        hasher.combine(leaseId)
    }
}

/// What the queue runs for each job.
public protocol IngestionWorker: Sendable {
    /// Ingests the job's delivery and records the run's outcome; never throws, every failure ends on the run.
    func ingest(_ job: IngestionJob) async
    /// The server is stopping before the job could start: the run must not stay `ingesting` for ever.
    func abandon(_ job: IngestionJob) async
    /// Keeps a job that waits for its turn this server's (renews its lease); false when it is not any more (the
    /// run was taken over, or ended, e.g. cancelled), and the queue then drops it.
    func renewWaiting(_ job: IngestionJob) async -> Bool
}

/// The server's background ingestion: completed runs wait here and at most `concurrency` are ingested at once.
///
/// A `Service` in the application's service group, so its work is structured (one task group, no stray tasks)
/// and stops with the server. On graceful shutdown it takes no more jobs, lets the ones in progress finish (each
/// publishes in one transaction, so stopping them would only waste the work) and hands the ones still waiting
/// to `IngestionWorker.abandon`. A run is queued at most once at a time, so a re-sent `complete` cannot ingest
/// it twice.
public final class IngestionQueue: Service, Sendable {
    private struct State {
        var accepting = true
        /// Waiting or in progress.
        var queued: Set<IngestionJob> = []
        var inProgress: Set<IngestionJob> = []
        /// Waiting jobs that are no longer this server's: skipped when their turn comes.
        var dropped: Set<IngestionJob> = []
    }

    private let worker: any IngestionWorker
    private let concurrency: Int
    private let renewalInterval: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let jobs: AsyncStream<IngestionJob>
    private let continuation: AsyncStream<IngestionJob>.Continuation

    /// - Parameters:
    ///   - concurrency: clamped to at least 1.
    ///   - renewalInterval: how often the leases of waiting jobs are renewed (`IngestionWorker.renewWaiting`).
    public init(
        worker: any IngestionWorker, concurrency: Int, renewalInterval: Duration = .seconds(15), logger: Logger
    ) {
        self.worker = worker
        self.concurrency = max(1, concurrency)
        self.renewalInterval = renewalInterval
        self.logger = logger
        (jobs, continuation) = AsyncStream.makeStream(of: IngestionJob.self)
    }

    /// Queues `job` unless it is queued or in progress already. When the queue is shutting down, the job is
    /// abandoned instead (its run fails with a reason), so a run is never left `ingesting` with nobody to finish it.
    public func submit(_ job: IngestionJob) async {
        let admitted = state.withLock { state -> Bool? in
            guard state.accepting else { return nil }
            return state.queued.insert(job).inserted
        }
        switch admitted {
        case true?:
            if case .terminated = continuation.yield(job) {
                finished(job)
                await worker.abandon(job)
                return
            }
            logger.debug("ingestion.queued", metadata: ["run.id": .string(job.runId)])
        case false?:
            return
        case nil:
            await worker.abandon(job)
        }
    }

    /// False once the server began shutting down: `complete` then answers 503 so the agent retries elsewhere.
    public var isAccepting: Bool { state.withLock { $0.accepting } }

    /// Jobs queued or in progress (tests and metrics).
    public var pendingCount: Int { state.withLock { $0.queued.count } }

    public func run() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { keeper in
                keeper.addTask { await self.renewWaitingJobs() }
                await self.runJobs()
                keeper.cancelAll()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.accepting = false }
            self.continuation.finish()
        }
    }

    /// Takes jobs from the stream, at most `concurrency` at once, until the stream finishes (graceful shutdown);
    /// then lets the ones in progress finish.
    private func runJobs() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await job in jobs {
                guard state.withLock({ $0.accepting }) else {
                    await worker.abandon(job)
                    finished(job)
                    continue
                }
                if running >= concurrency {
                    await group.next()
                    running -= 1
                }
                let skip = state.withLock { state -> Bool in
                    guard state.dropped.remove(job) == nil else { return true }
                    state.inProgress.insert(job)
                    return false
                }
                if skip {
                    finished(job)
                    continue
                }
                group.addTask {
                    await self.worker.ingest(job)
                    self.finished(job)
                }
                running += 1
            }
        }
    }

    /// Every `renewalInterval`, renews the lease of each job still waiting for its turn (jobs in progress renew
    /// their own), so a long ingestion ahead of them does not make them look abandoned to other replicas.
    private func renewWaitingJobs() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: renewalInterval) } catch { return }
            let waiting = state.withLock { $0.queued.subtracting($0.inProgress).subtracting($0.dropped) }
            for job in waiting where !(await worker.renewWaiting(job)) {
                state.withLock { state in
                    if !state.inProgress.contains(job) { state.dropped.insert(job) }
                }
                logger.debug("ingestion.dropped", metadata: ["run.id": .string(job.runId)])
            }
        }
    }

    private func finished(_ job: IngestionJob) {
        state.withLock { state in
            state.queued.remove(job)
            state.inProgress.remove(job)
        }
    }
}
