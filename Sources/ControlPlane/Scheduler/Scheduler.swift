public import ControlPlaneStorage
public import Logging
import OutpostProtocol
public import ServiceLifecycle
import Synchronization

/// Queues the runs of scheduled connections when their cron slot comes, on every replica at once.
///
/// Every `interval` it asks the store for connections whose `nextRunAt` has passed and, for each, moves
/// `nextRunAt` to the schedule's first slot after *now* with a compare-and-set that queues the run in the same
/// transaction. So each slot queues exactly one run however many replicas tick together, and a server that was
/// down for hours queues one catch-up run per connection, not one per missed slot. A slot whose previous run is
/// still queued or in progress queues nothing (runs of a slow source do not pile up).
///
/// Time comes from the injected `WallClock`; tests call `tick()` with a clock they set instead of waiting. The
/// store is an existential: one query every few seconds is no hot path.
public struct Scheduler: Service {
    let store: any ScheduleRepository
    let notifier: RunNotifier
    let clock: WallClock
    let interval: Duration
    let maxAttempts: Int
    let batchSize: Int
    let logger: Logger
    /// Connections whose stored schedule no longer parses, warned about once per process.
    private let warned = WarnedConnections()

    /// - Parameters:
    ///   - interval: how often the store is asked for due connections; slots are whole minutes, so a few seconds
    ///     keeps runs punctual while costing one indexed query per replica per interval.
    ///   - maxAttempts: the attempts a queued run gets (`ServerConfiguration.maxAttempts`).
    ///   - batchSize: connections handled per store query; a tick continues until none are due.
    public init(
        store: any ScheduleRepository, notifier: RunNotifier, clock: WallClock, interval: Duration, maxAttempts: Int,
        batchSize: Int = 100, logger: Logger
    ) {
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.interval = interval
        self.maxAttempts = maxAttempts
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await tick()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// What one tick did.
    public struct TickResult: Sendable, Equatable {
        /// Runs queued.
        public var queued = 0
        /// Slots passed over because the connection's previous run had not finished.
        public var skipped = 0
        /// Slots another replica took first.
        public var lost = 0
    }

    /// One pass over every due connection. Errors are logged, never thrown: the next tick tries again.
    @discardableResult
    public func tick() async -> TickResult {
        var result = TickResult()
        let now = clock.now
        do {
            while true {
                let due = try await store.dueConnections(now: now, limit: batchSize)
                var progressed = false
                for connection in due {
                    guard let outcome = try await advance(connection, now: now) else { continue }
                    progressed = progressed || outcome != .lost
                    switch outcome {
                    case .queued: result.queued += 1
                    case .skippedActiveRun: result.skipped += 1
                    case .lost: result.lost += 1
                    case .advanced: break
                    }
                }
                // A full batch may hide more due connections; an unparseable schedule stays due, so stop when a
                // batch changed nothing.
                guard due.count == batchSize, progressed else { break }
            }
        } catch {
            logger.warning("scheduler.failed", metadata: ["error.description": .string(String(describing: error))])
        }
        return result
    }

    /// Moves one connection to its next slot (queueing this slot's run); nil when its schedule does not parse.
    private func advance(_ connection: ConnectionRecord, now: Timestamp) async throws -> ScheduleAdvance? {
        guard let text = connection.schedule else { return nil }
        let schedule: CronSchedule
        do {
            schedule = try CronSchedule(parsing: text)
        } catch {
            let first = warned.ids.withLock { $0.insert(connection.tenantId + "/" + connection.id).inserted }
            if first {
                logger.warning(
                    "scheduler.invalid_schedule",
                    metadata: ["connection.id": .string(connection.id), "error.description": .string(error.message)])
            }
            return nil
        }
        let next = schedule.next(after: now)
        var run: RunRecord?
        if connection.nextRunAt != nil {
            run = RunRecord(
                tenantId: connection.tenantId, id: Identifier.make("run"), connectionId: connection.id,
                status: .queued, attempt: 0, maxAttempts: maxAttempts, leaseId: 0, createdAt: now)
        }
        let outcome = try await store.advanceSchedule(
            tenantId: connection.tenantId, connectionId: connection.id, expected: connection.nextRunAt, next: next,
            run: run)
        switch outcome {
        case .queued:
            notifier.notify(tenantId: connection.tenantId)
            logger.info(
                "scheduler.run_queued",
                metadata: [
                    "connection.id": .string(connection.id), "run.id": .string(run?.id ?? ""),
                    "schedule.slot": .string(connection.nextRunAt?.rfc3339 ?? ""),
                ])
        case .skippedActiveRun:
            logger.notice(
                "scheduler.slot_skipped",
                metadata: [
                    "connection.id": .string(connection.id),
                    "schedule.slot": .string(connection.nextRunAt?.rfc3339 ?? ""),
                ])
        case .advanced, .lost:
            logger.debug(
                "scheduler.slot_advanced",
                metadata: ["connection.id": .string(connection.id), "schedule.outcome": "\(outcome)"])
        }
        return outcome
    }
}

/// The ids a scheduler has warned about, shared by its copies.
private final class WarnedConnections: Sendable {
    let ids = Mutex<Set<String>>([])
}
