public import ControlPlaneStorage
import HTTPTypes
public import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
public import Logging
internal import OutpostProtocol

/// Builds the control plane's HTTP application over `store`: agent API v1, direct-ingestion uploads into `blobs`,
/// admin API with the catalog, the web UI under `/ui`, health check, and the background services (lease expiry,
/// ingestion, the scheduler, recovery of interrupted ingestions).
///
/// The store must be migrated already. `signer` holds the server secret that upload URLs are signed with; every
/// replica must use the same one. `relayReader` is the server's read access to customers' relay buckets; without
/// it, relay deliveries fail with a reason saying so. The application is a `Service`: run it in the process's `ServiceGroup` (or test
/// it with `app.test(.router)` / `.live`).
public func buildApplication<Store: ControlPlaneStore, Blobs: BlobStore>(
    configuration: ServerConfiguration, store: Store, blobs: Blobs, signer: UploadSigner, logger: Logger,
    clock: WallClock = .system, relayReader: RelayReader? = nil
) -> some ApplicationProtocol {
    let notifier = RunNotifier()
    let address = PublicAddress(configuration: configuration)
    let worker = RunIngestion(
        store: store, blobs: blobs, clock: clock, timeout: .seconds(configuration.ingestionTimeoutSeconds),
        leaseSeconds: configuration.ingestionLeaseSeconds, logger: logger, relayReader: relayReader)
    let ingestion = IngestionQueue(
        worker: worker, concurrency: configuration.ingestionConcurrency, renewalInterval: worker.renewalInterval,
        logger: logger)
    let router = buildRouter(
        configuration: configuration, store: store, blobs: blobs, signer: signer, address: address,
        ingestion: ingestion, notifier: notifier, clock: clock)
    let expiry = LeaseExpiryService(
        store: store, notifier: notifier, clock: clock, interval: configuration.leaseExpiryInterval,
        graceSeconds: configuration.leaseGraceSeconds, ttlSeconds: configuration.leaseTTLSeconds, logger: logger)
    return Application(
        router: router,
        server: configuration.tls.map { tls in
            // TLS ≥ 1.2 around HTTP/1.1; the certificate and key were loaded (and checked) with `ServerTLS`.
            HTTPServerBuilder { responder in
                try TLSChannel(HTTP1Channel(responder: responder), tlsConfiguration: tls.configuration)
            }
        } ?? .http1(),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port), serverName: "outpost"),
        services: [
            expiry, ingestion,
            Scheduler(
                store: store, notifier: notifier, clock: clock, interval: configuration.schedulerInterval,
                maxAttempts: configuration.maxAttempts, logger: logger),
            DeliveryJanitor(
                store: store, blobs: blobs, interval: configuration.deliveryCleanupInterval, logger: logger),
            IngestionRecovery(
                store: store, ingestion: ingestion, clock: clock, interval: configuration.ingestionRecoveryInterval,
                holdSeconds: configuration.ingestionLeaseSeconds,
                orphanedAtStart: store.ingestionsAreOrphanedAtStart, logger: logger),
        ],
        onServerRunning: { address.serverIsRunning(on: $0) },
        logger: logger)
}

/// The routes, grouped by the role their key must have; uploads carry their own credential (the signed URL).
func buildRouter<Store: ControlPlaneStore, Blobs: BlobStore>(
    configuration: ServerConfiguration, store: Store, blobs: Blobs, signer: UploadSigner, address: PublicAddress,
    ingestion: IngestionQueue, notifier: RunNotifier, clock: WallClock
) -> Router<ControlPlaneRequestContext> {
    let router = Router(context: ControlPlaneRequestContext.self)
    router.add(middleware: ClientAddressMiddleware(trustedProxies: configuration.trustedProxies))
    router.add(
        middleware: SecurityHeadersMiddleware<ControlPlaneRequestContext>(
            strictTransportSecurity: configuration.servesHTTPS))
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: MethodNotAllowedMiddleware())
    router.get("healthz") { _, _ in try JSONResponse<[String: String]>.make(["status": "ok"], status: .ok) }
    router.get("openapi.yaml") { _, _ in OpenAPIDocument.response }

    let authenticator = Authenticator(
        store: store, clock: clock, failureLimit: configuration.failedAuthenticationLimit,
        touchIntervalSeconds: configuration.keyTouchIntervalSeconds)
    let agentAuthentication = AuthenticationMiddleware(authenticator: authenticator, role: .agent)
    let adminAuthentication = AuthenticationMiddleware(authenticator: authenticator, role: .admin)

    AgentController(store: store, configuration: configuration, notifier: notifier, clock: clock)
        .addRoutes(to: router.group("v1/agent").add(middleware: agentAuthentication))
    RunController(
        store: store, configuration: configuration, clock: clock, signer: signer, address: address,
        ingestion: ingestion, presigner: blobs as? any UploadPresigner
    )
    .addRoutes(to: router.group("v1/runs").add(middleware: agentAuthentication))
    BlobController(store: store, blobs: blobs, signer: signer, clock: clock).addRoutes(to: router.group("v1/blobs"))

    let admin = router.group("v1/admin").add(middleware: adminAuthentication)
    KeysController(store: store, clock: clock).addRoutes(to: admin.group("keys"))
    ConnectionsController(store: store, configuration: configuration, notifier: notifier, clock: clock)
        .addRoutes(to: admin.group("connections"))
    RunsController(store: store, clock: clock).addRoutes(to: admin.group("runs"))
    AgentsController(store: store, configuration: configuration, clock: clock).addRoutes(to: admin.group("agents"))
    CatalogController(store: store).addRoutes(to: admin.group("catalog"))

    router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui"]) }
    UIController(
        store: store, blobs: blobs, configuration: configuration, notifier: notifier, clock: clock,
        authenticator: authenticator
    )
    .addRoutes(to: router.group("ui", context: UIRequestContext.self).add(middleware: UIResponseMiddleware()))
    return router
}
