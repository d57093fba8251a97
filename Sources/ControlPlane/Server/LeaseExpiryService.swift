public import Logging
public import ServiceLifecycle

/// Re-queues runs whose lease expired more than the grace period ago (or fails them when out of attempts),
/// every `interval`. Safe on every replica: the store makes each expiry happen once.
///
/// When runs went back to the queue, held claims of every tenant are woken to look for them.
public struct LeaseExpiryService<Store: RunRepository>: Service {
    let store: Store
    let notifier: RunNotifier
    let clock: WallClock
    let interval: Duration
    let graceSeconds: Int
    let logger: Logger

    public init(
        store: Store, notifier: RunNotifier, clock: WallClock, interval: Duration, graceSeconds: Int, logger: Logger
    ) {
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.interval = interval
        self.graceSeconds = graceSeconds
        self.logger = logger
    }

    public func run() async throws {
        // Held claims must not keep the server from stopping: wake them when shutdown begins.
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await expireOnce()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            }
        } onGracefulShutdown: {
            notifier.shutDown()
        }
    }

    /// One pass; returns how many runs changed.
    @discardableResult
    public func expireOnce() async -> Int {
        do {
            let changed = try await store.expireLeases(now: clock.now, graceSeconds: graceSeconds)
            if changed > 0 {
                logger.info("lease.expired", metadata: ["run.count": .stringConvertible(changed)])
                notifier.notifyAll()
            }
            return changed
        } catch {
            logger.warning("lease.expiry_failed", metadata: ["error.description": .string(String(describing: error))])
            return 0
        }
    }
}
