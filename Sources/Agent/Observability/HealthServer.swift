internal import Hummingbird
public import Logging
public import ServiceLifecycle

/// Whether the agent can take work, as `/readyz` reports it.
public struct Readiness: Sendable, Equatable {
    /// Ready to claim and run jobs.
    public var isReady: Bool
    /// Why not, when not ready (shown in the 503 body; never a secret).
    public var reason: String?

    /// Ready.
    public static let ready = Readiness(isReady: true, reason: nil)

    /// Not ready, because of `reason`.
    public static func notReady(_ reason: String) -> Readiness {
        Readiness(isReady: false, reason: reason)
    }
}

/// Where the health listener binds.
public struct HealthServerConfiguration: Sendable, Equatable {
    /// Loopback by default: the agent accepts no inbound connections from the network unless told to.
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 9464) {
        self.host = host
        self.port = port
    }

    /// Whether `host` only accepts connections from this machine: `localhost`, 127.0.0.0/8 or `::1`.
    public var isLoopback: Bool {
        let plain = host.trimmingPrefix("[").split(separator: "]").first.map(String.init) ?? host
        return plain == "localhost" || plain == "::1" || plain.hasPrefix("127.")
            || plain == "0:0:0:0:0:0:0:1"
    }
}

/// The agent's optional local HTTP listener: `/healthz` (200 while the process runs), `/readyz` (200 when the
/// readiness check says so, else 503 with the reason) and `/metrics` (Prometheus text exposition).
///
/// Read-only and unauthenticated, so it binds to loopback unless configured otherwise.
public struct HealthServer: Service {
    public let configuration: HealthServerConfiguration
    private let metrics: AgentMetrics
    private let readiness: @Sendable () async -> Readiness
    private let onServerRunning: @Sendable (Int) async -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - readiness: asked on every `/readyz` request.
    ///   - onServerRunning: called with the bound port once listening.
    public init(
        configuration: HealthServerConfiguration = HealthServerConfiguration(), metrics: AgentMetrics,
        logger: Logger, readiness: @escaping @Sendable () async -> Readiness,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.readiness = readiness
        self.onServerRunning = onServerRunning
        self.logger = logger
    }

    public func run() async throws {
        if !configuration.isLoopback {
            // Allowed (a pod's probes need it), but an operator must know the listener is open beyond this machine.
            logger.warning(
                "health.listener_not_loopback",
                metadata: [
                    "listen.host": .string(configuration.host),
                    "reason": "/healthz, /readyz and /metrics are unauthenticated and reachable from the network",
                ])
        }
        let router = Router()
        let metrics = metrics
        let readiness = readiness
        router.get("healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("readyz") { _, _ in
            let state = await readiness()
            return state.isReady
                ? Self.text(.ok, "ready\n")
                : Self.text(.serviceUnavailable, "not ready: \(state.reason ?? "unknown")\n")
        }
        router.get("metrics") { _, _ in
            let body = ByteBuffer(bytes: metrics.exposition())
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/plain; version=0.0.4; charset=utf-8",
                    .contentLength: String(body.readableBytes),
                ],
                body: ResponseBody(byteBuffer: body))
        }
        let onServerRunning = onServerRunning
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "outpost-agent"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await application.runService()
    }

    private static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        let body = ByteBuffer(string: text)
        return Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8", .contentLength: String(body.readableBytes)],
            body: ResponseBody(byteBuffer: body))
    }
}
