import ControlPlaneStorage
import HTTPTypes
import Hummingbird
import Logging
import Metadata
import ObjectStore
import OutpostProtocol
import Relay
import Synchronization

/// `/v1/runs/{id}/…`: what an agent does with a run it claimed. Every call is fenced by the lease id: a stale or
/// expired lease, or a finished run, is answered 409 `stale_lease` and the agent drops the job.
///
/// A run of another tenant is answered 404, exactly like a run that does not exist.
struct RunController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let configuration: ServerConfiguration
    let clock: WallClock
    /// Signs direct-ingestion upload grants.
    let signer: UploadSigner
    let address: PublicAddress
    /// Where completed deliveries go to be ingested.
    let ingestion: IngestionQueue
    /// The blob store's own pre-signed uploads (S3); nil when uploads come through the server's blob endpoint.
    var presigner: (any UploadPresigner)? = nil

    static var leaseHeader: HTTPField.Name { HTTPField.Name(AgentProtocol.leaseHeader)! }
    static var agentHeader: HTTPField.Name { HTTPField.Name(AgentProtocol.agentHeader)! }

    /// The calling agent's id, which every call about a run after `start` must carry: a lease is bound to the
    /// agent that claimed it, so another agent key of the tenant cannot renew, log to, upload to or complete it.
    /// Asked for only once the run is known to be the tenant's, so another tenant's key still gets 404 first.
    static func callingAgent(_ request: Request) throws -> String {
        guard let agent = request.headers[agentHeader], !agent.isEmpty else {
            throw APIError.invalidRequest(
                "the \(AgentProtocol.agentHeader) header must carry the calling agent's id",
                field: AgentProtocol.agentHeader)
        }
        return agent
    }

    /// Whether the run's lease is held by `agent` (a run never claimed has no agent).
    static func isHeld(_ run: RunRecord, by agent: String) -> Bool {
        run.leaseAgentId == nil || run.leaseAgentId == agent
    }

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.post("{id}/start", use: start)
        group.post("{id}/lease", use: renew)
        group.put("{id}/logs", use: appendLog)
        group.post("{id}/uploads", use: uploads)
        group.post("{id}/complete", use: complete)
    }

    /// Two-phase start: `leased` → `running`. Repeating it with the same lease and agent is harmless.
    @Sendable func start(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(StartRequest.self)
        let identity = try context.requireIdentity()
        let runId = try context.parameters.require("id")
        let now = clock.now
        let ttl = configuration.leaseTTLSeconds
        let agentId = body.agentId
        let run = try await updateLeased(tenantId: identity.tenantId, runId: runId, leaseId: body.leaseId, now: now) {
            run in
            // Refusals leave the run unchanged and are detected below rather than thrown from here, so the outcome
            // does not depend on how a store passes errors out of its transaction.
            guard run.status == .leased || run.status == .running,
                run.leaseAgentId == nil || run.leaseAgentId == agentId
            else { return }
            // The first start of this lease: the attempt's log goes after what earlier attempts shipped.
            if run.status == .leased { run.logAttemptOffset = run.logBytes }
            run.status = .running
            if run.startedAt == nil { run.startedAt = now }
            run.leaseExpiresAt = now.adding(seconds: ttl)
        }
        guard run.status == .running, run.leaseAgentId == nil || run.leaseAgentId == agentId else {
            throw APIError.staleLease(runId: runId)
        }
        context.logger.info(
            "run.started", metadata: ["run.id": .string(runId), "lease.id": .stringConvertible(body.leaseId)])
        return try leaseResponse(run)
    }

    /// Extends the lease; the answer carries a pending cancellation.
    @Sendable func renew(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(LeaseRenewalRequest.self)
        let identity = try context.requireIdentity()
        let runId = try context.parameters.require("id")
        let presented = request.headers[Self.agentHeader] ?? ""
        let now = clock.now
        let ttl = configuration.leaseTTLSeconds
        let run = try await updateLeased(tenantId: identity.tenantId, runId: runId, leaseId: body.leaseId, now: now) {
            run in
            guard run.status == .leased || run.status == .running, Self.isHeld(run, by: presented) else { return }
            run.leaseExpiresAt = now.adding(seconds: ttl)
        }
        let agent = try Self.callingAgent(request)
        guard run.status == .leased || run.status == .running, Self.isHeld(run, by: agent) else {
            throw APIError.staleLease(runId: runId)
        }
        return try leaseResponse(run)
    }

    /// `PUT …/logs?offset=N`: one chunk of the job's log, gzip or identity encoded, at the byte offset it starts.
    @Sendable func appendLog(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let runId = try context.parameters.require("id")
        guard let offsetText = request.uri.queryParameters.get("offset"), let offset = Int64(offsetText), offset >= 0
        else {
            throw APIError.invalidRequest("offset is a required non-negative integer query parameter", field: "offset")
        }
        guard let leaseText = request.headers[Self.leaseHeader], let leaseId = Int64(leaseText) else {
            throw APIError.invalidRequest(
                "the \(AgentProtocol.leaseHeader) header must carry the lease id", field: AgentProtocol.leaseHeader)
        }
        let encoding = (request.headers[.contentEncoding] ?? "identity").lowercased()
        guard encoding == "gzip" || encoding == "identity" else {
            throw APIError.invalidRequest("Content-Encoding must be gzip or identity", field: "Content-Encoding")
        }
        var request = request
        let body = try await request.collectBody(limit: AgentProtocol.maximumLogChunkBytes)
        let text: [UInt8]
        if encoding == "gzip" {
            do {
                text = try Gzip.decompress(
                    Array(body.readableBytesView), maxOutputBytes: configuration.maximumDecompressedLogChunkBytes)
            } catch let error as MetadataError where error.code == .compression {
                throw APIError(
                    .contentTooLarge, "payload_too_large",
                    "the chunk expands beyond \(configuration.maximumDecompressedLogChunkBytes) bytes; send smaller chunks"
                )
            } catch {
                throw APIError.invalidRequest("the body is not valid gzip", field: "body")
            }
        } else {
            text = Array(body.readableBytesView)
        }

        guard let run = try await store.run(tenantId: identity.tenantId, id: runId) else {
            throw APIError.notFound("no run \(runId)")
        }
        let agent = try Self.callingAgent(request)
        guard
            Self.isActive(
                run, leaseId: leaseId, at: clock.now, runningGraceSeconds: configuration.leaseGraceSeconds),
            Self.isHeld(run, by: agent)
        else {
            throw APIError.staleLease(runId: runId)
        }
        // The agent counts from the start of its attempt's log; earlier attempts' logs come before it.
        let base = run.logAttemptOffset
        guard offset + Int64(text.count) <= configuration.runLimits.maxLogBytes else {
            throw APIError(
                .contentTooLarge, "payload_too_large",
                "the run's log would exceed \(configuration.runLimits.maxLogBytes) bytes; drop further output")
        }
        if text.isEmpty {
            guard base + offset == run.logBytes else { throw APIError.offsetMismatch(expected: run.logBytes - base) }
            return try JSONResponse<LogChunkResponse>.make(LogChunkResponse(nextOffset: offset), status: .ok)
        }
        let next: Int64
        do {
            next = try await store.appendLog(
                tenantId: identity.tenantId, runId: runId, offset: base + offset, text: text)
        } catch let error as StorageError {
            guard case .offsetMismatch(let expected) = error.code else { throw error }
            throw APIError.offsetMismatch(expected: max(0, expected - base))
        }
        return try JSONResponse<LogChunkResponse>.make(LogChunkResponse(nextOffset: next - base), status: .ok)
    }

    /// Records the run's outcome. A succeeded or partial delivery (direct, or relay objects checked against the
    /// connection's bucket and the run's prefix) moves the run to `ingesting` and queues its
    /// ingestion, which decides the final status; a failed or cancelled run finishes at once. Repeating an accepted
    /// `complete` with the same lease answers 200 again without doing anything twice, so an agent whose first
    /// attempt timed out can retry safely.
    @Sendable func complete(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(CompleteRequest.self)
        let identity = try context.requireIdentity()
        let runId = try context.parameters.require("id")
        try Self.check(body)
        // Another agent's completion is refused before anything else is looked at, repeated or not. The lease id
        // fences the update below, and a run changes agent only with a new lease id.
        guard let current = try await store.run(tenantId: identity.tenantId, id: runId) else {
            throw APIError.notFound("no run \(runId)")
        }
        guard Self.isHeld(current, by: try Self.callingAgent(request)) else { throw APIError.staleLease(runId: runId) }
        let ingests = body.status == .succeeded || body.status == .partial
        let relay = ingests ? try await checkedRelay(body, run: current) : nil
        if ingests && !ingestion.isAccepting {
            throw APIError.unavailable("the control plane is shutting down; retry the completion")
        }
        let status = Self.runStatus(body.status)
        let error =
            body.status == .failed || body.status == .cancelled ? body.error.map { String($0.prefix(4000)) } : nil
        let now = clock.now
        let ingestionLease = now.adding(seconds: configuration.ingestionLeaseSeconds)
        let logs = body.logs
        let accepted = Mutex(false)
        let run: RunRecord
        do {
            run = try await updateLeased(tenantId: identity.tenantId, runId: runId, leaseId: body.leaseId, now: now) {
                run in
                // A run already ingesting is a re-sent completion: nothing changes.
                let changes = run.status == .leased || run.status == .running
                accepted.withLock { $0 = changes }
                guard changes else { return }
                // The agent's totals are its attempt's; stored as lengths of the whole log.
                run.logTotalBytes = run.logAttemptOffset + logs.bytes
                run.logSHA256 = logs.sha256
                run.logDroppedBytes = logs.droppedBytes
                if ingests {
                    // The server holds the lease (renewing it) while it ingests, so only this ingestion can finish
                    // the run, and a server that dies leaves a lease that soon runs out.
                    run.status = .ingesting
                    run.error = nil
                    run.leaseExpiresAt = ingestionLease
                } else {
                    run.status = status
                    run.error = error ?? (status == .failed ? "the agent reported a failure" : nil)
                    run.finishedAt = now
                    run.leaseExpiresAt = nil
                }
            }
        } catch let apiError as APIError where apiError.problem.error == "stale_lease" {
            guard let existing = try await store.run(tenantId: identity.tenantId, id: runId),
                Self.isRepeatedCompletion(existing, of: body)
            else { throw apiError }
            return try Self.completeResponse(ingests: ingests)
        }
        guard accepted.withLock({ $0 }) else {
            guard ingests, run.status == .ingesting else { throw APIError.staleLease(runId: runId) }
            return try Self.completeResponse(ingests: true)
        }
        if run.logAttemptOffset + logs.bytes != run.logBytes || logs.droppedBytes > 0 {
            context.logger.notice(
                "run.log_incomplete",
                metadata: [
                    "run.id": .string(runId), "log.reported_bytes": .stringConvertible(logs.bytes),
                    "log.stored_bytes": .stringConvertible(run.logBytes),
                    "log.dropped_bytes": .stringConvertible(logs.droppedBytes),
                ])
        }
        context.logger.info(
            "run.completed", metadata: ["run.id": .string(runId), "run.status": .string(run.status.rawValue)])
        if ingests {
            await ingestion.submit(
                IngestionJob(tenantId: identity.tenantId, runId: runId, leaseId: body.leaseId, relay: relay))
        }
        return try Self.completeResponse(ingests: ingests)
    }

    /// The relay objects of a completion that delivers, checked against the run's connection: a relay connection
    /// must report them, a direct one must not; the bucket must be the connection's and every key must lie under
    /// `<prefix><connection id>/<run id>/`, with the manifest among the objects. Nil for a direct delivery.
    private func checkedRelay(
        _ body: CompleteRequest, run: RunRecord
    ) async throws -> CompleteRequest.RelayObjects? {
        // A deleted connection fails the run during ingestion with its own reason.
        guard let connection = try await store.connection(tenantId: run.tenantId, id: run.connectionId) else {
            return body.relay
        }
        switch (connection.delivery.mode, connection.delivery.relay, body.relay) {
        case (.direct, _, nil):
            return nil
        case (.direct, _, .some):
            throw APIError.invalidRequest(
                "this connection delivers directly: upload with grants and complete without relay objects",
                field: "relay")
        case (.relay, _, nil), (.relay, nil, _):
            throw APIError.invalidRequest(
                "this connection delivers by bucket relay: report the objects written to its bucket", field: "relay")
        case (.relay, let target?, let relay?):
            try Self.check(
                relay, target: target,
                prefix: target.runPrefix(connectionId: connection.id, runId: run.id))
            return relay
        }
    }

    /// Checks reported relay objects against the connection's target and the run's key prefix.
    static func check(_ relay: CompleteRequest.RelayObjects, target: RelayTarget, prefix: String) throws {
        guard relay.bucket == target.bucket else {
            throw APIError.invalidRequest(
                "must be the connection's relay bucket '\(target.bucket)'", field: "relay.bucket")
        }
        func isValidKey(_ key: String) -> Bool {
            guard key.hasPrefix(prefix), key.utf8.count <= 1024,
                !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else { return false }
            let rest = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
            return rest.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
        }
        guard isValidKey(relay.manifestKey),
            relay.manifestKey.hasSuffix("/" + MetadataFormat.manifestFileName)
        else {
            throw APIError.invalidRequest(
                "must be the key of \(MetadataFormat.manifestFileName) under '\(prefix)'", field: "relay.manifestKey")
        }
        var seen = Set<String>()
        for (index, object) in relay.objects.enumerated() {
            guard isValidKey(object.key) else {
                throw APIError.invalidRequest(
                    "must be an object key under '\(prefix)' without empty, '.' or '..' segments",
                    field: "relay.objects[\(index)].key")
            }
            guard seen.insert(object.key).inserted else {
                throw APIError.invalidRequest("repeats an earlier key", field: "relay.objects[\(index)].key")
            }
        }
        guard seen.contains(relay.manifestKey) else {
            throw APIError.invalidRequest(
                "must be listed in relay.objects with its size and SHA-256", field: "relay.manifestKey")
        }
    }

    /// Whether `body` repeats a completion the run accepted already under the same lease: the run carries the log
    /// totals only `complete` stores, and its state is what that completion led to.
    static func isRepeatedCompletion(_ run: RunRecord, of body: CompleteRequest) -> Bool {
        guard run.leaseId == body.leaseId, run.logSHA256 != nil else { return false }
        switch body.status {
        case .succeeded, .partial: return [.ingesting, .succeeded, .partial, .failed, .cancelled].contains(run.status)
        case .failed, .cancelled: return run.status == runStatus(body.status)
        }
    }

    static func completeResponse(ingests: Bool) throws -> Response {
        try JSONResponse<CompleteResponse>.make(CompleteResponse(ingestion: ingests ? "queued" : "none"), status: .ok)
    }

    /// Whether `leaseId` is the run's current lease on a run the agent is still working on, unexpired (a running
    /// run's, up to `runningGraceSeconds` past its expiry, until which it is not re-queued).
    static func isActive(_ run: RunRecord, leaseId: Int64, at now: Timestamp, runningGraceSeconds: Int = 0) -> Bool {
        guard run.leaseId == leaseId, run.status == .leased || run.status == .running,
            let expiry = run.leaseExpiresAt
        else { return false }
        return now < expiry.adding(seconds: run.status == .running ? runningGraceSeconds : 0)
    }

    static func runStatus(_ status: CompleteRequest.Status) -> RunRecord.Status {
        switch status {
        case .succeeded: .succeeded
        case .partial: .partial
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }

    static func check(_ body: CompleteRequest) throws {
        guard body.logs.bytes >= 0 else { throw APIError.invalidRequest("must not be negative", field: "logs.bytes") }
        guard body.logs.droppedBytes >= 0 else {
            throw APIError.invalidRequest("must not be negative", field: "logs.droppedBytes")
        }
        guard isSHA256(body.logs.sha256) else {
            throw APIError.invalidRequest("must be a lower-case hex SHA-256", field: "logs.sha256")
        }
        if let relay = body.relay {
            guard relay.objects.count <= 100_000 else {
                throw APIError.invalidRequest("too many objects", field: "relay.objects")
            }
            for (index, object) in relay.objects.enumerated() {
                guard isSHA256(object.sha256) else {
                    throw APIError.invalidRequest(
                        "must be a lower-case hex SHA-256", field: "relay.objects[\(index)].sha256")
                }
                guard object.bytes >= 0 else {
                    throw APIError.invalidRequest("must not be negative", field: "relay.objects[\(index)].bytes")
                }
            }
        }
    }

    static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// `store.updateLeased`, telling a run that does not exist (404) from a stale lease (409). A running run's
    /// lease is accepted up to the grace past its expiry: it is re-queued only then, so an agent that was cut off
    /// for longer than the TTL but less than TTL + grace keeps its run.
    private func updateLeased(
        tenantId: String, runId: String, leaseId: Int64, now: Timestamp,
        _ change: @Sendable (inout RunRecord) throws -> Void
    ) async throws -> RunRecord {
        if let run = try await store.updateLeased(
            tenantId: tenantId, runId: runId, leaseId: leaseId, now: now,
            runningGraceSeconds: configuration.leaseGraceSeconds, change)
        {
            return run
        }
        guard try await store.run(tenantId: tenantId, id: runId) != nil else {
            throw APIError.notFound("no run \(runId)")
        }
        throw APIError.staleLease(runId: runId)
    }

    private func leaseResponse(_ run: RunRecord) throws -> Response {
        let response = LeaseResponse(
            leaseId: run.leaseId, leaseTTLSeconds: configuration.leaseTTLSeconds, cancel: run.cancelRequested,
            cancelReason: run.cancelRequested ? run.cancelReason : nil)
        return try JSONResponse<LeaseResponse>.make(response, status: .ok)
    }
}
