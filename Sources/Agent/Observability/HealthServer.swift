public import Logging
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
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
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        await onServerRunning(server.channel.localAddress?.port ?? 0)
        // Cancellation (the agent stopping) or a graceful shutdown closes the listener; the connections' tasks are
        // children of this one and close theirs.
        try await cancelWhenGracefulShutdown {
            try await withTaskCancellationHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        }
    }

    /// Answers the requests of one connection (keep-alive honoured) until the client closes it or the server stops.
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        await withTaskCancellationHandler {
            do {
                try await connection.executeThenClose { inbound, outbound in
                    var head: HTTPRequestHead?
                    for try await part in inbound {
                        switch part {
                        case .head(let request):
                            head = request
                        case .body:
                            continue
                        case .end:
                            guard let request = head else { continue }
                            head = nil
                            let (status, contentType, body) = await respond(to: request)
                            var headers = HTTPHeaders()
                            headers.add(name: "Content-Type", value: contentType)
                            headers.add(name: "Content-Length", value: String(body.readableBytes))
                            headers.add(name: "Server", value: "outpost-agent")
                            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                            try await outbound.write(
                                .head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                            if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(body))) }
                            try await outbound.write(.end(nil))
                            if !request.isKeepAlive { return }
                        }
                    }
                }
            } catch {
                // A client that went away or sent something that is not HTTP: nothing to do but drop it.
                logger.debug("health.connection_failed", metadata: ["error": "\(error)"])
            }
        } onCancel: {
            connection.channel.close(promise: nil)
        }
    }

    /// The answer to one request: GET (or HEAD) of `/healthz`, `/readyz` or `/metrics`; 405 for other methods on
    /// those paths, 404 for any other path.
    private func respond(to request: HTTPRequestHead) async -> (HTTPResponseStatus, String, ByteBuffer) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let text = "text/plain; charset=utf-8"
        guard ["/healthz", "/readyz", "/metrics"].contains(path) else {
            return (.notFound, text, ByteBuffer(string: "not found\n"))
        }
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, text, ByteBuffer(string: "only GET\n"))
        }
        switch path {
        case "/healthz":
            return (.ok, text, ByteBuffer(string: "ok\n"))
        case "/readyz":
            let state = await readiness()
            return state.isReady
                ? (.ok, text, ByteBuffer(string: "ready\n"))
                : (.serviceUnavailable, text, ByteBuffer(string: "not ready: \(state.reason ?? "unknown")\n"))
        default:
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", ByteBuffer(bytes: metrics.exposition()))
        }
    }
}
