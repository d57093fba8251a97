public import ControlPlaneStorage
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
    let ttlSeconds: Int
    let logger: Logger

    public init(
        store: Store, notifier: RunNotifier, clock: WallClock, interval: Duration, graceSeconds: Int,
        ttlSeconds: Int, logger: Logger
    ) {
        self.ttlSeconds = ttlSeconds
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.interval = interval
        self.graceSeconds = graceSeconds
        self.logger = logger
    }

    public func run() async throws {
        await extendRunningLeasesAtStart()
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

    /// A server that was down could not renew anyone's lease: before the first expiry pass, running runs get a
    /// whole TTL from now, so agents that kept working through the outage are not fenced off for it. (With
    /// replicas, a restart of one gives a dead agent's run one more TTL before it is re-queued.)
    func extendRunningLeasesAtStart() async {
        do {
            let extended = try await store.extendRunningLeases(now: clock.now, ttlSeconds: ttlSeconds)
            if extended > 0 {
                logger.notice("lease.extended_at_start", metadata: ["run.count": .stringConvertible(extended)])
            }
        } catch {
            logger.warning(
                "lease.extension_failed", metadata: ["error.description": .string(String(describing: error))])
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
