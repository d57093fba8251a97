internal import ControlPlaneStorage
internal import OutpostProtocol

// The admin API's bodies (in OutpostProtocol) made from the stored records.

extension KeySummary {
    init(_ key: APIKey) {
        self.init(
            id: key.id, name: key.name, role: key.role, prefix: key.prefix, createdAt: key.createdAt.rfc3339,
            expiresAt: key.expiresAt?.rfc3339, revokedAt: key.revokedAt?.rfc3339, lastUsedAt: key.lastUsedAt?.rfc3339)
    }
}

extension ConnectionResponse {
    init(_ connection: ConnectionRecord) {
        self.init(
            id: connection.id, name: connection.name, sourceKind: connection.sourceKind,
            sourceURL: connection.sourceURL, secrets: connection.secrets, filters: connection.filters,
            delivery: connection.delivery, pool: connection.pool, schedule: connection.schedule,
            nextRunAt: connection.nextRunAt?.rfc3339, createdAt: connection.createdAt.rfc3339,
            updatedAt: connection.updatedAt.rfc3339)
    }
}

extension RunResponse {
    init(_ run: RunRecord) {
        self.init(
            id: run.id, connectionId: run.connectionId, status: run.status, attempt: run.attempt,
            maxAttempts: run.maxAttempts, leaseId: run.leaseId, leaseAgentId: run.leaseAgentId,
            leaseExpiresAt: run.leaseExpiresAt?.rfc3339, cancelRequested: run.cancelRequested,
            cancelReason: run.cancelReason, error: run.error, createdAt: run.createdAt.rfc3339,
            startedAt: run.startedAt?.rfc3339, finishedAt: run.finishedAt?.rfc3339, logBytes: run.logBytes,
            logTotalBytes: run.logTotalBytes, logSHA256: run.logSHA256, logDroppedBytes: run.logDroppedBytes,
            logAttemptOffset: run.logAttemptOffset)
        catalogChanges = run.catalogChanges.map {
            CatalogChanges(created: $0.created, updated: $0.updated, unchanged: $0.unchanged, deleted: $0.deleted)
        }
    }
}

extension AgentResponse {
    init(_ agent: AgentRecord, status: Status) {
        self.init(
            id: agent.id, name: agent.name, version: agent.version, state: agent.state, status: status,
            freeSlots: agent.freeSlots, runningLeases: agent.runningLeases, cpuPercent: agent.cpuPercent,
            memoryBytes: agent.memoryBytes, diskFreeBytes: agent.diskFreeBytes,
            spoolBacklogBytes: agent.spoolBacklogBytes, lastError: agent.lastError,
            lastSeenAt: agent.lastSeenAt.rfc3339, drainRequested: agent.drainRequested, auditHead: agent.auditHead,
            auditProblem: agent.auditProblem)
    }
}
