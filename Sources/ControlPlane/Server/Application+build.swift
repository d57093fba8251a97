public import Hummingbird
public import Logging

/// Builds the control plane's HTTP application over `store`: agent API v1, admin API, health check, and the
/// background lease expiry.
///
/// The store must be migrated already. The application is a `Service`: run it in the process's `ServiceGroup`
/// (or test it with `app.test(.router)` / `.live`).
public func buildApplication(
    configuration: ServerConfiguration, store: some ControlPlaneStore, logger: Logger, clock: WallClock = .system
) -> some ApplicationProtocol {
    let notifier = RunNotifier()
    let router = buildRouter(configuration: configuration, store: store, notifier: notifier, clock: clock)
    let expiry = LeaseExpiryService(
        store: store, notifier: notifier, clock: clock, interval: configuration.leaseExpiryInterval,
        graceSeconds: configuration.leaseGraceSeconds, logger: logger)
    return Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port), serverName: "outpost"),
        services: [expiry],
        logger: logger)
}

/// The routes, grouped by the role their key must have.
func buildRouter<Store: ControlPlaneStore>(
    configuration: ServerConfiguration, store: Store, notifier: RunNotifier, clock: WallClock
) -> Router<ControlPlaneRequestContext> {
    let router = Router(context: ControlPlaneRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    router.get("healthz") { _, _ in try JSONResponse<[String: String]>.make(["status": "ok"], status: .ok) }

    let authenticator = Authenticator(
        store: store, clock: clock, failureLimit: configuration.failedAuthenticationLimit,
        touchIntervalSeconds: configuration.keyTouchIntervalSeconds)
    let agentAuthentication = AuthenticationMiddleware(authenticator: authenticator, role: .agent)
    let adminAuthentication = AuthenticationMiddleware(authenticator: authenticator, role: .admin)

    AgentController(store: store, configuration: configuration, notifier: notifier, clock: clock)
        .addRoutes(to: router.group("v1/agent").add(middleware: agentAuthentication))
    RunController(store: store, configuration: configuration, clock: clock)
        .addRoutes(to: router.group("v1/runs").add(middleware: agentAuthentication))

    let admin = router.group("v1/admin").add(middleware: adminAuthentication)
    KeysController(store: store, clock: clock).addRoutes(to: admin.group("keys"))
    ConnectionsController(store: store, configuration: configuration, notifier: notifier, clock: clock)
        .addRoutes(to: admin.group("connections"))
    RunsController(store: store, clock: clock).addRoutes(to: admin.group("runs"))
    AgentsController(store: store, configuration: configuration, clock: clock).addRoutes(to: admin.group("agents"))
    return router
}
