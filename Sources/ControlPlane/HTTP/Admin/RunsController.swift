import ControlPlaneStorage
import Hummingbird
import Logging
import OutpostProtocol

/// `/v1/admin/runs`: the queue and history, logs, and cancellation (delivered to the agent on its next lease
/// renewal; a queued run is cancelled at once).
struct RunsController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let clock: WallClock

    static var defaultListLimit: Int { 50 }
    static var maximumListLimit: Int { 500 }
    static var defaultLogLimit: Int { 64 * 1024 }
    static var maximumLogLimit: Int { 1024 * 1024 }

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.get(use: list)
        group.get("{id}", use: show)
        group.get("{id}/logs", use: logs)
        group.post("{id}/cancel", use: cancel)
    }

    /// Newest first; `?connectionId=` narrows to one connection, `?limit=` (≤ 500) bounds the answer.
    @Sendable func list(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let limit = try Self.integer(query.get("limit"), field: "limit", default: Self.defaultListLimit)
        guard (1...Self.maximumListLimit).contains(limit) else {
            throw APIError.invalidRequest("limit is 1–\(Self.maximumListLimit)", field: "limit")
        }
        let runs = try await store.runs(
            tenantId: identity.tenantId, connectionId: query.get("connectionId"), limit: limit)
        return try JSONResponse<RunList>.make(RunList(runs: runs.map(RunResponse.init)), status: .ok)
    }

    @Sendable func show(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        try JSONResponse<RunResponse>.make(RunResponse(try await existing(context)), status: .ok)
    }

    /// `?from=N&limit=M`: bytes N ..< N+M of the log as UTF-8 text, cut back to a character boundary.
    @Sendable func logs(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let run = try await existing(context)
        let query = request.uri.queryParameters
        let from = try Self.integer(query.get("from"), field: "from", default: 0)
        let limit = try Self.integer(query.get("limit"), field: "limit", default: Self.defaultLogLimit)
        guard from >= 0 else { throw APIError.invalidRequest("from must not be negative", field: "from") }
        guard (1...Self.maximumLogLimit).contains(limit) else {
            throw APIError.invalidRequest("limit is 1–\(Self.maximumLogLimit)", field: "limit")
        }
        var bytes =
            Int64(from) < run.logBytes
            ? try await store.readLog(tenantId: run.tenantId, runId: run.id, from: Int64(from), limit: limit) : []
        bytes.removeLast(Self.incompleteUTF8Suffix(bytes))
        let response = RunLogResponse(
            runId: run.id, from: Int64(from), nextOffset: Int64(from + bytes.count), totalBytes: run.logBytes,
            finished: run.status.isFinished, text: String(decoding: bytes, as: UTF8.self))
        return try JSONResponse<RunLogResponse>.make(response, status: .ok)
    }

    /// Cancels a queued run at once; a leased or running one learns it on its next lease renewal.
    @Sendable func cancel(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(limit: 64 * 1024)
        var reason = "cancelled by an administrator"
        if body.readableBytes > 0 {
            let decoded: CancelRequest
            do {
                decoded = try StrictJSONDecoder().decode(CancelRequest.self, from: body.readableBytesView)
            } catch {
                throw APIError.invalidRequest(error.message, field: error.field)
            }
            if let text = decoded.reason {
                try ConnectionValidation.checkText(text, field: "reason", maximum: 500)
                reason = text
            }
        }
        let cancelled = try await cancel(try await existing(context), reason: reason, logger: context.logger)
        return try JSONResponse<RunResponse>.make(RunResponse(cancelled), status: .ok)
    }

    /// Requests cancellation of an unfinished run (409 for a finished one): the API's and the web UI's cancel.
    func cancel(_ run: RunRecord, reason: String, logger: Logger) async throws -> RunRecord {
        guard !run.status.isFinished else {
            throw APIError.conflict("run \(run.id) has finished already (\(run.status.rawValue))")
        }
        guard
            let cancelled = try await store.requestCancel(
                tenantId: run.tenantId, runId: run.id, reason: reason, now: clock.now)
        else { throw APIError.notFound("no run \(run.id)") }
        logger.info("run.cancel_requested", metadata: ["run.id": .string(run.id)])
        if run.status == .ingesting && cancelled.status == .cancelled {
            // Nobody was ingesting it (its server stopped): what that server staged goes now, not at a restart.
            await store.clearStagingOrLog(tenantId: run.tenantId, runId: run.id, logger: logger)
        }
        return cancelled
    }

    private func existing(_ context: ControlPlaneRequestContext) async throws -> RunRecord {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id")
        guard let run = try await store.run(tenantId: identity.tenantId, id: id) else {
            throw APIError.notFound("no run \(id)")
        }
        return run
    }

    static func integer(_ text: String?, field: String, default value: Int) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text) else { throw APIError.invalidRequest("\(field) must be an integer", field: field) }
        return number
    }

    /// How many trailing bytes form an incomplete UTF-8 sequence (0–3), so a slice never splits a character.
    static func incompleteUTF8Suffix(_ bytes: [UInt8]) -> Int {
        var index = bytes.count - 1
        var continuation = 0
        while index >= 0, continuation < 3, bytes[index] & 0xC0 == 0x80 {
            continuation += 1
            index -= 1
        }
        guard index >= 0 else { return 0 }
        let lead = bytes[index]
        let length =
            lead & 0x80 == 0 ? 1 : lead & 0xE0 == 0xC0 ? 2 : lead & 0xF0 == 0xE0 ? 3 : lead & 0xF8 == 0xF0 ? 4 : 1
        return continuation + 1 < length ? continuation + 1 : 0
    }
}
