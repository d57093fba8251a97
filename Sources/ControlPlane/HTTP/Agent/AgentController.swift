import ControlPlaneStorage
import HTTPTypes
import Hummingbird
import Logging
import OutpostProtocol
import ServiceLifecycle

/// `POST /v1/agent/claim` and `POST /v1/agent/heartbeat`: the calls an agent makes about itself.
///
/// The tenant always comes from the key; the agent id from the body only names the agent within it.
struct AgentController<Store: ControlPlaneStore>: Sendable {
    let store: Store
    let configuration: ServerConfiguration
    let notifier: RunNotifier
    let clock: WallClock

    func addRoutes(to group: RouterGroup<ControlPlaneRequestContext>) {
        group.post("claim", use: claim)
        group.post("heartbeat", use: heartbeat)
    }

    /// Hands out at most one run: at once when one is queued, otherwise after waiting for one (204 if none came).
    @Sendable func claim(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(ClaimRequest.self)
        let identity = try context.requireIdentity()
        try AgentFields.check(agentId: body.agentId, name: body.agentName, version: body.version)
        guard body.freeSlots >= 0 else { throw APIError.invalidRequest("must not be negative", field: "freeSlots") }
        guard body.waitSeconds >= 0 else {
            throw APIError.invalidRequest("must not be negative", field: "waitSeconds")
        }
        guard body.pools.count <= 100 else { throw APIError.invalidRequest("at most 100 pools", field: "pools") }
        for (index, pool) in body.pools.enumerated() where !ConnectionValidation.isToken(pool, maximum: 100) {
            throw APIError.invalidRequest("a pool is 1–100 letters, digits, '_', '-' or '.'", field: "pools[\(index)]")
        }

        let now = clock.now
        let stored = try await store.agent(tenantId: identity.tenantId, id: body.agentId)
        var agent =
            stored
            ?? AgentRecord(
                tenantId: identity.tenantId, id: body.agentId, name: body.agentName, version: body.version,
                state: "idle", freeSlots: body.freeSlots, runningLeases: 0, lastSeenAt: now)
        agent.name = body.agentName
        agent.version = body.version
        agent.freeSlots = body.freeSlots
        agent.lastSeenAt = now
        agent.keyId = identity.keyId
        // An idle agent claims in a loop: write its row only when something changed or the stored last-seen time
        // is older than the resolution, so an empty claim usually writes nothing (SQLite serialises writes).
        if let stored, stored.name == agent.name, stored.version == agent.version,
            stored.freeSlots == agent.freeSlots, stored.keyId == agent.keyId,
            now.milliseconds - stored.lastSeenAt.milliseconds < lastSeenResolutionMilliseconds
        {
            agent.lastSeenAt = stored.lastSeenAt
        } else {
            try await store.upsertAgent(agent)
        }

        if let refusal = versionRefusal(version: body.version, now: now) { throw refusal }
        guard !agent.drainRequested, body.freeSlots > 0 else { return Response(status: .noContent) }

        let pools = body.pools.isEmpty ? ["default"] : body.pools
        let deadline = ContinuousClock.now.advanced(by: .seconds(configuration.claimWait(requested: body.waitSeconds)))
        // Held claims must not delay shutdown: wake them all when it begins.
        return try await withGracefulShutdownHandler {
            var waited = false
            while true {
                // A key revoked or expired while the claim was held gets no work: revocation is immediate.
                if waited, try await !isStillValid(identity) { return Response(status: .noContent) }
                waited = true
                let generation = notifier.generation(of: identity.tenantId)
                if let assignment = try await claimOne(tenantId: identity.tenantId, agentId: body.agentId, pools: pools)
                {
                    context.logger.info(
                        "run.claimed",
                        metadata: [
                            "run.id": .string(assignment.runId), "lease.id": .stringConvertible(assignment.leaseId),
                            "agent.id": .string(body.agentId),
                        ])
                    return try JSONResponse<ClaimResponse>.make(ClaimResponse(run: assignment), status: .ok)
                }
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero || notifier.isShutDown || Task.isCancelled {
                    return Response(status: .noContent)
                }
                await notifier.wait(
                    tenantId: identity.tenantId, after: generation,
                    timeout: min(remaining, configuration.claimRecheckInterval))
            }
        } onGracefulShutdown: {
            notifier.shutDown()
        }
    }

    /// How stale a claim may leave an agent's stored last-seen time: half a heartbeat interval, between 1 and 5
    /// seconds — well inside the two intervals within which the agents list calls an agent active.
    var lastSeenResolutionMilliseconds: Int64 {
        Int64(min(5, max(1, configuration.heartbeatIntervalSeconds / 2))) * 1000
    }

    /// Whether the key a held request authenticated with is still unrevoked and unexpired.
    private func isStillValid(_ identity: Identity) async throws -> Bool {
        guard let key = try await store.keys(tenantId: identity.tenantId).first(where: { $0.id == identity.keyId })
        else { return false }
        return key.revokedAt == nil && key.expiresAt.map { clock.now < $0 } ?? true
    }

    /// Leases one queued run and builds its assignment; runs whose connection vanished are failed and skipped.
    private func claimOne(tenantId: String, agentId: String, pools: [String]) async throws -> RunAssignment? {
        while true {
            let runs = try await store.claimRuns(
                tenantId: tenantId, agentId: agentId, pools: pools, limit: 1,
                ttlSeconds: configuration.startWindowSeconds, now: clock.now)
            guard let run = runs.first else { return nil }
            guard let connection = try await store.connection(tenantId: tenantId, id: run.connectionId) else {
                let now = clock.now
                _ = try await store.updateLeased(tenantId: tenantId, runId: run.id, leaseId: run.leaseId, now: now) {
                    $0.status = .failed
                    $0.error = "the connection was deleted before the run started"
                    $0.finishedAt = now
                    $0.leaseExpiresAt = nil
                }
                continue
            }
            let job = JobSpec(
                connectionId: connection.id, connectionName: connection.name, sourceKind: connection.sourceKind,
                sourceURL: connection.sourceURL, secrets: connection.secrets, filters: connection.filters,
                delivery: connection.delivery)
            return RunAssignment(
                runId: run.id, leaseId: run.leaseId, leaseTTLSeconds: configuration.leaseTTLSeconds,
                attempt: run.attempt, job: job, limits: configuration.runLimits)
        }
    }

    /// Records the agent's health and tells it whether to drain, which versions are supported and when its key
    /// expires.
    @Sendable func heartbeat(_ request: Request, context: ControlPlaneRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(HeartbeatRequest.self)
        let identity = try context.requireIdentity()
        try AgentFields.check(agentId: body.agentId, name: body.agentName, version: body.version)
        guard body.freeSlots >= 0 else { throw APIError.invalidRequest("must not be negative", field: "freeSlots") }
        guard body.runningLeases.count <= 1000 else {
            throw APIError.invalidRequest("at most 1000 running leases", field: "runningLeases")
        }

        let now = clock.now
        let existing = try await store.agent(tenantId: identity.tenantId, id: body.agentId)
        var agent = AgentRecord(
            tenantId: identity.tenantId, id: body.agentId, name: body.agentName, version: body.version,
            state: body.state.rawValue, freeSlots: body.freeSlots, runningLeases: body.runningLeases.count,
            lastSeenAt: now, drainRequested: existing?.drainRequested ?? false)
        agent.cpuPercent = body.cpuPercent
        agent.memoryBytes = body.memoryBytes
        agent.diskFreeBytes = body.diskFreeBytes
        agent.spoolBacklogBytes = body.spoolBacklogBytes
        agent.lastError = body.lastError.map { String($0.prefix(2000)) }
        agent.keyId = identity.keyId
        try await store.upsertAgent(agent)
        var acknowledged = existing?.auditHead
        // Unchanged since the last heartbeat (an idle agent's ledger): nothing to compare or write.
        if let head = body.auditHead, head != existing?.auditHead {
            guard head.sequence >= 0, RunController<Store>.isSHA256(head.hash) else {
                throw APIError.invalidRequest(
                    "must be a non-negative sequence and a lower-case hex SHA-256", field: "auditHead")
            }
            let recorded = try await store.recordAuditHead(
                tenantId: identity.tenantId, agentId: body.agentId, head: head, now: now)
            acknowledged = recorded?.auditHead
            if let problem = recorded?.auditProblem, existing?.auditProblem == nil {
                context.logger.error(
                    "agent.audit_ledger_tampered",
                    metadata: ["agent.id": .string(body.agentId), "audit.problem": .string(problem)])
            }
        }

        let outdated = AgentVersion.isOlder(body.version, than: configuration.minimumAgentVersion)
        let response = HeartbeatResponse(
            drain: agent.drainRequested, minimumAgentVersion: configuration.minimumAgentVersion,
            versionDeadline: outdated ? configuration.minimumAgentVersionDeadline?.rfc3339 : nil,
            keyExpiresAt: identity.keyExpiresAt?.rfc3339, serverTime: now.rfc3339, auditHead: acknowledged)
        return try JSONResponse<HeartbeatResponse>.make(response, status: .ok)
    }

    /// An agent older than the minimum may keep working until the deadline; after it (or at once without one),
    /// its claims are refused. Heartbeats are always accepted so the agent learns why.
    private func versionRefusal(version: String, now: Timestamp) -> APIError? {
        guard AgentVersion.isOlder(version, than: configuration.minimumAgentVersion) else { return nil }
        if let deadline = configuration.minimumAgentVersionDeadline, now < deadline { return nil }
        return APIError(
            .forbidden, "unsupported_version",
            "agent version \(version) is older than the minimum \(configuration.minimumAgentVersion); upgrade the agent"
        )
    }
}

/// Checks on the identity fields an agent sends with every claim and heartbeat.
enum AgentFields {
    static func check(agentId: String, name: String, version: String) throws {
        guard ConnectionValidation.isToken(agentId, maximum: 200) else {
            throw APIError.invalidRequest("agentId is 1–200 letters, digits, '_', '-' or '.'", field: "agentId")
        }
        try ConnectionValidation.checkText(name, field: "agentName", maximum: 200)
        try ConnectionValidation.checkText(version, field: "version", maximum: 100)
    }
}
