internal import OutpostProtocol

// Run semantics shared by both stores, so the SQL of each backend only moves rows and the rules live in one place.

extension RunRecord {
    /// Whether a caller presenting `leaseId` may change the run at `now`: the lease is the current one, it has not
    /// expired, and the run is not finished. A run re-queued by `expireLeases` has no expiry, so an old holder
    /// of its lease is refused even though the id still matches.
    /// A `running` run's lease is accepted `runningGraceSeconds` past its expiry, as long as `expireLeases` (which
    /// waits as long) has not re-queued it.
    func accepts(leaseId: Int64, at now: Timestamp, runningGraceSeconds: Int = 0) -> Bool {
        let grace = status == .running ? runningGraceSeconds : 0
        return self.leaseId == leaseId && !status.isFinished
            && (leaseExpiresAt.map { now < $0.adding(seconds: grace) } ?? false)
    }

    /// Whether a cancellation ends the run at once rather than waiting for its lease holder: a queued run has
    /// none, and an ingesting run whose lease expired has nobody ingesting it (its server stopped).
    func endsAtOnceWhenCancelled(at now: Timestamp) -> Bool {
        status == .queued || (status == .ingesting && !(leaseExpiresAt.map { now < $0 } ?? false))
    }

    /// Restores the fields only the store may change, after a caller's closure edited a copy: identity, the
    /// fencing token and the log length (kept in step with the stored chunks by `appendLog`).
    mutating func keepStoreOwnedFields(of stored: RunRecord) {
        tenantId = stored.tenantId
        id = stored.id
        connectionId = stored.connectionId
        createdAt = stored.createdAt
        leaseId = stored.leaseId
        logBytes = stored.logBytes
    }
}
