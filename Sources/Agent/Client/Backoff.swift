/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base·2ⁿ)].
///
/// Full jitter spreads a fleet of agents that lost the control plane at the same moment, so they do not return
/// in lock step. A `Retry-After` from the server takes precedence over the computed wait (bounded by `cap`).
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration
    private(set) var attempt = 0

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(60)) {
        self.base = base
        self.cap = cap
    }

    /// The wait before the next attempt; advances the attempt counter.
    public mutating func next(
        retryAfter: Duration? = nil, using generator: inout some RandomNumberGenerator
    )
        -> Duration
    {
        defer { attempt += 1 }
        if let retryAfter { return min(retryAfter, cap) }
        let ceiling = Self.ceiling(base: base, cap: cap, attempt: attempt)
        let milliseconds = Self.milliseconds(ceiling)
        guard milliseconds > 0 else { return .zero }
        return .milliseconds(Int64.random(in: 0...milliseconds, using: &generator))
    }

    /// The wait before the next attempt with the system's random numbers.
    public mutating func next(retryAfter: Duration? = nil) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(retryAfter: retryAfter, using: &generator)
    }

    /// Forgets earlier failures after a success.
    public mutating func reset() { attempt = 0 }

    static func ceiling(base: Duration, cap: Duration, attempt: Int) -> Duration {
        // 2^attempt overflows quickly; past 30 doublings every sensible base is beyond any cap.
        let factor = Int64(1) << Int64(min(attempt, 30))
        let scaled = Self.milliseconds(base) * factor
        return min(cap, .milliseconds(scaled))
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
