import ControlPlane
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Records what the queue asked of it; each ingestion takes `duration`.
final class RecordingWorker: IngestionWorker {
    struct State {
        var running = 0
        var mostRunning = 0
        var ingested: [String] = []
        var abandoned: [String] = []
        var renewed: [String] = []
        /// Runs whose waiting job `renewWaiting` reports as no longer this server's.
        var lost: Set<String> = []
    }

    let state = Mutex(State())
    let duration: Duration

    init(duration: Duration) {
        self.duration = duration
    }

    func ingest(_ job: IngestionJob) async {
        state.withLock {
            $0.running += 1
            $0.mostRunning = max($0.mostRunning, $0.running)
        }
        try? await Task.sleep(for: duration)
        state.withLock {
            $0.running -= 1
            $0.ingested.append(job.runId)
        }
    }

    func abandon(_ job: IngestionJob) async {
        state.withLock { $0.abandoned.append(job.runId) }
    }

    func renewWaiting(_ job: IngestionJob) async -> Bool {
        state.withLock {
            $0.renewed.append(job.runId)
            return !$0.lost.contains(job.runId)
        }
    }

    var snapshot: State { state.withLock { $0 } }
}

@Suite("Ingestion queue")
struct IngestionQueueTests {
    static let logger = Logger(label: "outpost.test.ingestion", factory: { _ in SwiftLogNoOpLogHandler() })

    static func job(_ index: Int) -> IngestionJob {
        IngestionJob(tenantId: "ten_a", runId: "run_\(index)", leaseId: 1)
    }

    /// Runs `queue` in a service group while `body` runs, then shuts it down gracefully.
    static func running(_ queue: IngestionQueue, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [queue], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func wait(until condition: () -> Bool) async throws {
        // A condition, not a timing: generous for a crowded start of the suite.
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 60 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("every job is ingested once, never more than the concurrency limit at a time", arguments: [1, 2])
    func concurrencyIsBounded(concurrency: Int) async throws {
        let worker = RecordingWorker(duration: .milliseconds(20))
        let queue = IngestionQueue(worker: worker, concurrency: concurrency, logger: Self.logger)
        try await Self.running(queue) {
            for index in 0..<6 { await queue.submit(Self.job(index)) }
            // A job already waiting is not queued again.
            await queue.submit(Self.job(5))
            try await Self.wait { worker.snapshot.ingested.count == 6 }
        }
        let state = worker.snapshot
        #expect(state.ingested.sorted() == (0..<6).map { "run_\($0)" }.sorted())
        #expect(state.mostRunning == concurrency)
        #expect(state.abandoned.isEmpty)
        #expect(queue.pendingCount == 0)
    }

    @Test("on graceful shutdown jobs in progress finish, waiting ones are abandoned, later ones too")
    func shutdownAbandonsWaitingJobs() async throws {
        let worker = RecordingWorker(duration: .milliseconds(200))
        let queue = IngestionQueue(worker: worker, concurrency: 1, logger: Self.logger)
        try await Self.running(queue) {
            for index in 0..<5 { await queue.submit(Self.job(index)) }
            try await Self.wait { worker.snapshot.running == 1 }
        }
        let state = worker.snapshot
        #expect(state.ingested.first == "run_0")
        #expect(state.ingested.count + state.abandoned.count == 5)
        #expect(state.abandoned.count >= 3)
        #expect(!queue.isAccepting)
        await queue.submit(Self.job(9))
        #expect(worker.snapshot.abandoned.last == "run_9")
    }

    @Test("waiting jobs have their leases renewed, jobs in progress do not, and a job no longer ours is skipped")
    func waitingJobsAreRenewedOrDropped() async throws {
        let worker = RecordingWorker(duration: .milliseconds(300))
        worker.state.withLock { $0.lost = ["run_2"] }
        let queue = IngestionQueue(
            worker: worker, concurrency: 1, renewalInterval: .milliseconds(20), logger: Self.logger)
        try await Self.running(queue) {
            for index in 0..<3 { await queue.submit(Self.job(index)) }
            try await Self.wait { worker.snapshot.ingested.count == 2 }
            try await Self.wait { queue.pendingCount == 0 }
        }
        let state = worker.snapshot
        // run_0 started at once and renews its own lease; run_1 waited behind it and was renewed meanwhile; run_2
        // was reported lost while it waited and never ran.
        #expect(state.ingested == ["run_0", "run_1"])
        #expect(!state.renewed.contains("run_0"))
        #expect(state.renewed.contains("run_1"))
        #expect(state.renewed.contains("run_2"))
        #expect(state.abandoned.isEmpty)
    }
}
