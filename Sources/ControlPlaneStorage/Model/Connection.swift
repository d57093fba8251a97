public import OutpostProtocol

/// A source an admin registered: settings and secret references, never secret values.
public struct ConnectionRecord: Sendable, Equatable {
    public var tenantId: String
    public var id: String
    /// Unique per tenant; the first part of every qualified name extracted from it.
    public var name: String
    public var sourceKind: String
    /// Without credentials.
    public var sourceURL: String
    /// Secret references by role (`password` → `aws-sm:prod/pg#password`).
    public var secrets: [String: String]
    public var filters: JobFilters
    public var delivery: Delivery
    /// Agents serving this pool may run it.
    public var pool: String
    /// A five-field cron expression, or nil for "run now" only.
    public var schedule: String?
    /// When the scheduler next queues a run (the current cron slot, UTC); nil without a schedule. Advanced only by
    /// compare-and-set in the store, so each slot queues one run however many replicas see it due.
    public var nextRunAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        tenantId: String, id: String, name: String, sourceKind: String, sourceURL: String,
        secrets: [String: String], filters: JobFilters, delivery: Delivery, pool: String, schedule: String?,
        createdAt: Timestamp, updatedAt: Timestamp, nextRunAt: Timestamp? = nil
    ) {
        self.tenantId = tenantId
        self.id = id
        self.name = name
        self.sourceKind = sourceKind
        self.sourceURL = sourceURL
        self.secrets = secrets
        self.filters = filters
        self.delivery = delivery
        self.pool = pool
        self.schedule = schedule
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.nextRunAt = nextRunAt
    }
}
