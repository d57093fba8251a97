import Synchronization

/// A clock whose time moves only when something sleeps on it: a sleep jumps the clock to its deadline at once.
///
/// With one task sleeping on it (a `LeaseKeeper`), minutes of lease renewals, outages and backoff pass in
/// milliseconds, in a fixed order, and whatever the task does can be stamped with the clock's `now`.
struct VirtualClock: Clock {
    struct Instant: InstantProtocol {
        /// Time since the clock's start.
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private final class Time: Sendable {
        let offset = Mutex<Duration>(.zero)
    }

    private let time = Time()

    var now: Instant { Instant(offset: time.offset.withLock { $0 }) }
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        time.offset.withLock { $0 = max($0, deadline.offset) }
        await Task.yield()
    }
}
