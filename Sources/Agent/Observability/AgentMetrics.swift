public import Prometheus

/// The agent's metrics, registered in one Prometheus registry and served on `/metrics` by `HealthServer`.
///
/// Names follow Prometheus conventions (`outpost_agent_` prefix, `_total` counters, base units in `_seconds` and
/// `_bytes`). Label values are fixed vocabularies (outcomes, renewal results), never ids, so series stay few.
public final class AgentMetrics: Sendable {
    /// The registry holding every metric below; `exposition()` renders it.
    public let registry: PrometheusCollectorRegistry

    /// Seconds buckets for job durations: a few seconds up to a few hours.
    static let jobDurationBuckets: [Duration] = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200].map {
        .seconds($0)
    }
    /// Seconds buckets for claim latency: long polls are held up to ~50 s.
    static let claimLatencyBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60].map {
        .milliseconds(Int64($0 * 1000))
    }

    /// Job outcomes used as the `outcome` label.
    public enum JobOutcome: String, Sendable, CaseIterable {
        case succeeded, partial, failed, cancelled, denied, lost
    }

    /// Lease renewal results used as the `result` label.
    public enum RenewalResult: String, Sendable, CaseIterable {
        /// Renewed.
        case ok
        /// The control plane asked to cancel the job.
        case cancelled
        /// 409: the lease belongs to someone else now.
        case stale
        /// The call failed (network, 5xx) and will be retried.
        case error
    }

    private let jobs: [JobOutcome: Counter]
    private let renewals: [RenewalResult: Counter]
    private let jobDuration: DurationHistogram
    private let claimLatency: DurationHistogram
    private let logBytesShipped: Counter
    private let logBytesDropped: Counter
    private let spoolBytes: Gauge
    private let egressDenials: Counter
    private let secretFetchErrors: Counter
    private let apiKeyExpiry: Gauge

    private static func descriptor(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "outpost", subsystem: "agent", metricName: metric, unitName: unit, helpText: help)
    }

    /// Registers every metric in `registry` (a fresh one by default).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        jobs = Dictionary(
            uniqueKeysWithValues: JobOutcome.allCases.map {
                (
                    $0,
                    registry.makeCounter(
                        descriptor: Self.descriptor("jobs", "total", "Jobs finished by this agent, by outcome."),
                        labels: [("outcome", $0.rawValue)])
                )
            })
        renewals = Dictionary(
            uniqueKeysWithValues: RenewalResult.allCases.map {
                (
                    $0,
                    registry.makeCounter(
                        descriptor: Self.descriptor("lease_renewals", "total", "Lease renewal attempts, by result."),
                        labels: [("result", $0.rawValue)])
                )
            })
        jobDuration = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "job_duration", "seconds", "Wall-clock time from a job's start to its completion."),
            buckets: Self.jobDurationBuckets)
        claimLatency = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "claim_latency", "seconds", "Time a claim call took, including the control plane's long poll."),
            buckets: Self.claimLatencyBuckets)
        logBytesShipped = registry.makeCounter(
            descriptor: Self.descriptor("log_shipped_bytes", "total", "Job log bytes accepted by the control plane."))
        logBytesDropped = registry.makeCounter(
            descriptor: Self.descriptor(
                "log_dropped_bytes", "total",
                "Job log bytes dropped because the spool was full or the log exceeded its limit."))
        spoolBytes = registry.makeGauge(
            descriptor: Self.descriptor("spool", "bytes", "Bytes held in the agent's encrypted spool."))
        egressDenials = registry.makeCounter(
            descriptor: Self.descriptor(
                "egress_denials", "total", "Sources or hosts refused by the agent's local egress policy."))
        secretFetchErrors = registry.makeCounter(
            descriptor: Self.descriptor("secret_fetch_errors", "total", "Secret references that could not be resolved.")
        )
        apiKeyExpiry = registry.makeGauge(
            descriptor: Self.descriptor(
                "api_key_expiry", "seconds",
                "Seconds until the agent's API key expires, as last reported by the control plane."))
    }

    /// Counts a finished job and records how long it ran.
    public func jobFinished(_ outcome: JobOutcome, duration: Duration) {
        jobs[outcome]!.increment()
        jobDuration.record(duration)
    }

    /// Records how long a claim call took.
    public func claimCompleted(after latency: Duration) {
        claimLatency.record(latency)
    }

    /// Counts a lease renewal attempt.
    public func leaseRenewed(_ result: RenewalResult) {
        renewals[result]!.increment()
    }

    /// Counts log bytes the control plane accepted.
    public func logBytesShipped(_ bytes: Int) {
        logBytesShipped.increment(by: Int64(bytes))
    }

    /// Counts log bytes that were dropped.
    public func logBytesDropped(_ bytes: Int) {
        logBytesDropped.increment(by: Int64(bytes))
    }

    /// Sets the spool's current size.
    public func spoolSize(_ bytes: Int64) {
        spoolBytes.set(Double(bytes))
    }

    /// Counts a refusal by the egress policy.
    public func egressDenied() {
        egressDenials.increment()
    }

    /// Counts a secret that could not be resolved.
    public func secretFetchFailed() {
        secretFetchErrors.increment()
    }

    /// Sets the seconds left until the API key expires.
    public func apiKeyExpires(in seconds: Double) {
        apiKeyExpiry.set(seconds)
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
