public import ControlPlaneStorage
public import Logging
public import ServiceLifecycle
public import UnixSignals

/// The control plane as one process runs it — `outpost server` and `outpost quickstart` alike: the store's
/// connections (PostgreSQL's pool), start-up (migrations, abandoned staging cleared, the first admin key), then the
/// HTTP application with its background services (lease expiry, ingestion, scheduler, delivery janitor, recovery),
/// all in one `ServiceGroup`. Graceful shutdown stops them in reverse: the application finishes its held requests
/// before the store's connections close.
public struct ControlPlaneServer<Store: ControlPlaneStore, Blobs: BlobStore>: Sendable {
    public let store: Store
    public let blobs: Blobs
    public let signer: UploadSigner
    public let configuration: ServerConfiguration
    public let relayReader: RelayReader?
    /// Receives a freshly minted first admin key (nil: the store already has one) to put where its admin finds it.
    let deliverAdminKey: @Sendable (String) throws -> Void
    let logger: Logger

    public init(
        store: Store, blobs: Blobs, signer: UploadSigner, configuration: ServerConfiguration,
        relayReader: RelayReader? = nil, logger: Logger, deliverAdminKey: @escaping @Sendable (String) throws -> Void
    ) {
        self.store = store
        self.blobs = blobs
        self.signer = signer
        self.configuration = configuration
        self.relayReader = relayReader
        self.logger = logger
        self.deliverAdminKey = deliverAdminKey
    }

    /// Start-up on a store ready for queries: migrations, the staging an interrupted ingestion left, and the first
    /// admin key when there is none. Returns whether a key was minted.
    @discardableResult
    public func prepare() async throws -> Bool {
        try await store.migrate()
        let abandoned = try await store.clearAbandonedStaging()
        if abandoned > 0 {
            logger.notice("ingestion.abandoned_staging_cleared", metadata: ["ingestion.assets": "\(abandoned)"])
        }
        return try await Bootstrap.run(store: store, deliver: deliverAdminKey) != nil
    }

    /// The process's services: the store's connections, then the application (after `prepare()` unless
    /// `prepared`). Run the group, then `close()` the store.
    ///
    /// - Parameter gracefulShutdownSignals: the signals that stop the group; none when the caller triggers the
    ///   shutdown itself (the quickstart stops its server after its agent).
    public func serviceGroup(gracefulShutdownSignals: [UnixSignal], prepared: Bool = false) -> ServiceGroup {
        let application = buildApplication(
            configuration: configuration, store: store, blobs: blobs, signer: signer, logger: logger,
            relayReader: relayReader)
        let connections = StoreConnections(store: store)
        let server = StartThenServe(
            start: { if !prepared { try await prepare() } }, store: store, application: application)
        return ServiceGroup(
            configuration: .init(
                services: [
                    // Returning at once (SQLite has no pool) must not end the group.
                    .init(service: connections, successTerminationBehavior: .ignore),
                    .init(service: server),
                ],
                gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
    }

    /// Runs the server until one of `gracefulShutdownSignals` (SIGTERM, SIGINT), then closes the store.
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let result: Result<Void, any Error>
        do {
            try await serviceGroup(gracefulShutdownSignals: gracefulShutdownSignals).run()
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try? await store.close()
        try result.get()
    }
}

/// The store's connection pool as a service: it runs until the group shuts down (the application has stopped by
/// then, services stopping in reverse order).
private struct StoreConnections<Store: ControlPlaneStore>: Service {
    let store: Store

    func run() async throws {
        await cancelWhenGracefulShutdown { await store.runConnections() }
    }
}

/// Start-up once the store's connections are up, then the application until graceful shutdown.
private struct StartThenServe<Store: ControlPlaneStore, Application: Service>: Service {
    let start: @Sendable () async throws -> Void
    let store: Store
    let application: Application

    func run() async throws {
        await store.waitUntilRunning()
        try await start()
        try await application.run()
    }
}
