/// Counts failed authentications per client address in fixed one-minute windows and blocks an address that
/// exceeds the limit until its window ends.
///
/// A value type driven by the caller's monotonic clock readings, so it is tested without sleeping. Memory is
/// bounded: at most `maximumAddresses` windows are kept, expired ones are dropped first.
struct AuthenticationFailureLimiter: Sendable {
    let limit: Int
    let window: Duration
    let maximumAddresses: Int
    private var windows: [String: (start: ContinuousClock.Instant, failures: Int)] = [:]

    init(limit: Int, window: Duration = .seconds(60), maximumAddresses: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.maximumAddresses = maximumAddresses
    }

    /// How long `address` must wait before trying again, or nil when it may try now.
    func retryAfter(address: String, now: ContinuousClock.Instant) -> Duration? {
        guard let entry = windows[address], entry.failures >= limit else { return nil }
        let end = entry.start.advanced(by: window)
        return end > now ? now.duration(to: end) : nil
    }

    /// Records a failure of `address`.
    mutating func recordFailure(address: String, now: ContinuousClock.Instant) {
        if let entry = windows[address], entry.start.advanced(by: window) > now {
            windows[address] = (entry.start, entry.failures + 1)
            return
        }
        if windows.count >= maximumAddresses {
            windows = windows.filter { $0.value.start.advanced(by: window) > now }
            if windows.count >= maximumAddresses, let oldest = windows.min(by: { $0.value.start < $1.value.start }) {
                windows[oldest.key] = nil
            }
        }
        windows[address] = (now, 1)
    }

    /// The number of addresses currently tracked.
    var trackedAddresses: Int { windows.count }
}
