import ControlPlaneStorage
import Hummingbird
import Logging
import OutpostProtocol

/// `/v1/admin/connections`: sources with their settings and secret references, and "run now".
struct ConnectionsController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let configuration: ServerConfiguration
    let notifier: RunNotifier
    let clock: WallClock

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.post(use: create)
        group.get(use: list)
        group.get("{id}", use: show)
        group.put("{id}", use: replace)
        group.delete("{id}", use: delete)
        group.post("{id}/runs", use: runNow)
    }

    @Sendable func create(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(ConnectionRequest.self)
        let identity = try context.requireIdentity()
        let now = clock.now
        let connection = try ConnectionValidation.record(
            from: body, tenantId: identity.tenantId, id: Identifier.make("con"), createdAt: now, now: now)
        do {
            try await store.createConnection(connection)
        } catch let error as StorageError where error.code == .conflict {
            throw APIError.conflict("a connection named '\(body.name)' exists already", field: "name")
        }
        context.logger.info("connection.created", metadata: ["connection.id": .string(connection.id)])
        return try JSONResponse<ConnectionResponse>.make(ConnectionResponse(connection), status: .created)
    }

    @Sendable func list(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let connections = try await store.connections(tenantId: identity.tenantId)
        return try JSONResponse<ConnectionList>.make(
            ConnectionList(connections: connections.map(ConnectionResponse.init)), status: .ok)
    }

    @Sendable func show(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let connection = try await existing(context)
        return try JSONResponse<ConnectionResponse>.make(ConnectionResponse(connection), status: .ok)
    }

    /// Replaces every setting; the id and creation time stay.
    @Sendable func replace(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(ConnectionRequest.self)
        let current = try await existing(context)
        var connection = try ConnectionValidation.record(
            from: body, tenantId: current.tenantId, id: current.id, createdAt: current.createdAt, now: clock.now)
        // An unchanged schedule keeps its pending slot, so an edit made just after a slot came does not lose it.
        if connection.schedule == current.schedule { connection.nextRunAt = current.nextRunAt }
        let updated: Bool
        do {
            updated = try await store.updateConnection(connection)
        } catch let error as StorageError where error.code == .conflict {
            throw APIError.conflict("a connection named '\(body.name)' exists already", field: "name")
        }
        guard updated else { throw APIError.notFound("no connection \(current.id)") }
        return try JSONResponse<ConnectionResponse>.make(ConnectionResponse(connection), status: .ok)
    }

    /// Deletes the connection and its run history; refused while a run of it is queued or in progress, since
    /// the agent holding it would lose it mid-flight.
    @Sendable func delete(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id")
        let recent = try await store.runs(tenantId: identity.tenantId, connectionId: id, limit: 100)
        if let active = recent.first(where: { !$0.status.isFinished }) {
            throw APIError.conflict("run \(active.id) of this connection is \(active.status.rawValue); cancel it first")
        }
        guard try await store.deleteConnection(tenantId: identity.tenantId, id: id) else {
            throw APIError.notFound("no connection \(id)")
        }
        context.logger.info("connection.deleted", metadata: ["connection.id": .string(id)])
        return Response(status: .noContent)
    }

    /// Queues a run of the connection and wakes the tenant's held claims.
    @Sendable func runNow(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let run = try await queueRun(of: try await existing(context), logger: context.logger)
        return try JSONResponse<RunResponse>.make(RunResponse(run), status: .created)
    }

    /// Queues a run of `connection` and wakes the tenant's held claims: "run now" from the API and the web UI.
    func queueRun(of connection: ConnectionRecord, logger: Logger) async throws -> RunRecord {
        let run = RunRecord(
            tenantId: connection.tenantId, id: Identifier.make("run"), connectionId: connection.id, status: .queued,
            attempt: 0, maxAttempts: configuration.maxAttempts, leaseId: 0, createdAt: clock.now)
        try await store.createRun(run)
        notifier.notify(tenantId: connection.tenantId)
        logger.info("run.queued", metadata: ["run.id": .string(run.id), "connection.id": .string(connection.id)])
        return run
    }

    private func existing(_ context: ControlPlaneRequestContext) async throws -> ConnectionRecord {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id")
        guard let connection = try await store.connection(tenantId: identity.tenantId, id: id) else {
            throw APIError.notFound("no connection \(id)")
        }
        return connection
    }
}
