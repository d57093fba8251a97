public import ControlPlaneStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The source of wall-clock time for leases, key expiry and timestamps.
///
/// Leases and keys expire at wall-clock instants stored in the database (shared by replicas), so the server
/// reads time through this value; tests substitute a clock they advance by hand instead of sleeping.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Timestamp

    public init(_ read: @escaping @Sendable () -> Timestamp) {
        self.read = read
    }

    /// The current time.
    public var now: Timestamp { read() }

    /// The system's real-time clock.
    public static let system = WallClock {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(milliseconds: Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000)
    }
}
